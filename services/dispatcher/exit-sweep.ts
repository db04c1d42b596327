import { candleTrigger, type ExitLevels, holdingExpired } from "../common/exits.ts";
import { nyseSession } from "../common/market-calendar.ts";
import type { DispatcherDeps } from "./deps.ts";
import { insertExitOrder, lockWatchedExits, markChecked, selectClosedCandles } from "./exit-queries.ts";
import type { Account } from "./portfolio.ts";
import { takeRiskLock } from "./queries.ts";

/** The dry-run sweep of exits (exits.ts has the overview). */

/** A refused exit of a position is not queued again for this long (one row per 5 minutes, not per pass). */
export const EXIT_RETRY_BACKOFF_MS = 300_000;
/** Candles one sweep reads per position (a week of 5-minute bars is 546 session candles). */
const SWEEP_CANDLES = 2_000;

/**
 * The dry-run sweep: each open exit the dispatcher watches, against the candles that started at
 * or after its last check and have closed by now, oldest first; the first that triggers queues a
 * stop-loss or take-profit exit at its price. No trigger and the maximum holding time passed:
 * a max-holding exit at the newest close. Runs only while NYSE is open (no exit could pass the
 * market-hours gate otherwise). Returns the exit orders queued.
 */
export async function sweepExits(deps: DispatcherDeps, account: Account): Promise<number> {
  const now = deps.clock.now();
  if (!nyseSession(now).open) return 0;
  return deps.db.transaction(async (tx) => {
    await takeRiskLock(tx);
    const watched = await lockWatchedExits(tx, { account, now, backoffMs: EXIT_RETRY_BACKOFF_MS });
    let queued = 0;
    for (const exit of watched) {
      // A bracketed position's stop-loss and take-profit are the broker's legs: only its age is ours.
      const levels: ExitLevels = {
        stopPrice: exit.bracketed ? null : exit.stop_price,
        takeProfitPrice: exit.bracketed ? null : exit.take_profit_price,
        expiresAtMs: exit.expires_at,
      };
      const candles = exit.bracketed
        ? []
        : await selectClosedCandles(tx, {
            ticker: exit.ticker,
            fromMs: exit.checked_until,
            now,
            limit: SWEEP_CANDLES,
          });
      let checkedUntil = exit.checked_until;
      let trigger = null;
      for (const candle of candles) {
        checkedUntil = Math.max(checkedUntil, candle.ts + candle.interval_sec * 1000);
        trigger = candleTrigger(levels, { tsMs: candle.ts, ...candle });
        if (trigger) break;
      }
      const reason = trigger?.reason ?? (holdingExpired(levels, now.getTime()) ? "max-holding" : null);
      const id =
        reason === null
          ? null
          : await insertExitOrder(tx, {
              account,
              ticker: exit.ticker,
              reason,
              positionExitId: exit.id,
              triggerPrice: trigger?.price ?? null,
              triggerCandleTsMs: trigger?.candleTsMs ?? null,
              requestedBy: `dispatcher:${deps.instance}`,
              note: null,
              now,
            });
      await markChecked(tx, { id: exit.id, checkedUntilMs: checkedUntil, triggered: reason !== null });
      if (id !== null) {
        queued += 1;
        deps.logger.info(
          { exitId: id, ticker: exit.ticker, reason, triggerPrice: trigger?.price ?? null },
          "exit triggered",
        );
      }
    }
    return queued;
  });
}
