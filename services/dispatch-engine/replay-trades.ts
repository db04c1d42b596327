import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { candleTrigger, type ExitLevels, exitLevels, holdingExpired } from "../common/exits.ts";
import type { Recommendation } from "./rule.ts";

/**
 * What replayed recommendations would have made (issue 15): each BUY entered flat at its close,
 * its exits (the recommendation's stored stop-loss, take-profit and maximum holding time) applied
 * to the 5-minute candles after it exactly as the dry-run dispatcher applies them
 * (services/common/exits.ts), a SELL closing what is held, with the dry-run simulator's slippage
 * and fees on every fill. Writes nothing.
 */

/** The dry-run simulator's costs (services/common/config.ts OPS_DISPATCHER_*): a replay charges the same. */
export interface ReplayCosts {
  orderNotionalUsd: number;
  slippageBps: number;
  feeBps: number;
  feePerOrderUsd: number;
}

/** The configuration's defaults, for callers without a dispatcher configuration. */
export const DEFAULT_REPLAY_COSTS: ReplayCosts = {
  orderNotionalUsd: 1_000,
  slippageBps: 5,
  feeBps: 0,
  feePerOrderUsd: 0,
};

export type ReplayExitReason = "stop-loss" | "take-profit" | "max-holding" | "signal" | "open";

export interface ReplayTrade {
  ticker: string;
  quantity: number;
  entryAt: string;
  entryPrice: number;
  /** When it closed; for an "open" trade, the last candle it was marked at. */
  exitAt: string;
  exitPrice: number;
  exitReason: ReplayExitReason;
  fees: number;
  /** Net of fees (for an "open" trade: unrealised, marked at the last close, exit fee not charged). */
  pnl: number;
}

export interface ReplayPnl {
  trades: number;
  realisedPnl: number;
  unrealisedPnl: number;
  fees: number;
  /** Closed trades by what closed them. */
  exits: Partial<Record<ReplayExitReason, number>>;
}

const candleRow = z.object({
  ts: z.number(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  interval_sec: z.number(),
});
type Candle = z.infer<typeof candleRow>;

interface Held {
  quantity: number;
  entryPrice: number;
  entryAtMs: number;
  entryFee: number;
  levels: ExitLevels;
}

/**
 * Simulates the trades of `recommendations` up to `toMs`.
 * @throws database errors only.
 */
export async function replayTrades(
  db: Pick<CommonQueryMethods, "any">,
  recommendations: readonly Recommendation[],
  options: { toMs: number; costs: ReplayCosts },
): Promise<{ trades: ReplayTrade[]; pnl: ReplayPnl }> {
  const { costs } = options;
  const slip = costs.slippageBps / 10_000;
  const fee = (notional: number) => (notional * costs.feeBps) / 10_000 + costs.feePerOrderUsd;
  const byTicker = new Map<string, Recommendation[]>();
  for (const r of recommendations) byTicker.set(r.ticker, [...(byTicker.get(r.ticker) ?? []), r]);
  const trades: ReplayTrade[] = [];
  for (const [ticker, recs] of [...byTicker].sort(([a], [b]) => a.localeCompare(b))) {
    recs.sort((a, b) => a.asOf.getTime() - b.asOf.getTime());
    const firstBuy = recs.find((r) => r.side === "BUY");
    if (!firstBuy) continue;
    const candles = await db.any(sql.type(candleRow)`
      SELECT ts, open, high, low, close, interval_sec FROM lane_telemetry
      WHERE ticker = ${ticker} AND ts >= ${sql.timestamp(firstBuy.asOf)}
        AND ts + make_interval(secs => interval_sec) <= ${sql.timestamp(new Date(options.toMs))}
      ORDER BY ts`);
    let held: Held | null = null;
    let next = 0; // the first candle not yet looked at
    const close = (exitAtMs: number, price: number, reason: ReplayExitReason) => {
      if (!held) return;
      const exitPrice = reason === "open" ? price : price * (1 - slip);
      const exitFee = reason === "open" ? 0 : fee(held.quantity * exitPrice);
      trades.push({
        ticker,
        quantity: held.quantity,
        entryAt: new Date(held.entryAtMs).toISOString(),
        entryPrice: held.entryPrice,
        exitAt: new Date(exitAtMs).toISOString(),
        exitPrice,
        exitReason: reason,
        fees: held.entryFee + exitFee,
        pnl: held.quantity * (exitPrice - held.entryPrice) - held.entryFee - exitFee,
      });
      held = null;
    };
    /** Applies the exits to every candle closed by `untilMs`; true when one closed the position. */
    const sweep = (untilMs: number) => {
      for (; next < candles.length; next++) {
        const c = candles[next] as Candle;
        const endMs = c.ts + c.interval_sec * 1000;
        if (endMs > untilMs) return;
        if (!held || c.ts < held.entryAtMs) continue;
        const trigger = candleTrigger(held.levels, { tsMs: c.ts, ...c });
        if (trigger) close(endMs, trigger.price, trigger.reason);
        else if (holdingExpired(held.levels, endMs)) close(endMs, c.close, "max-holding");
      }
    };
    for (const r of recs) {
      sweep(r.asOf.getTime());
      if (r.side === "BUY" && !held) {
        const price = r.close * (1 + slip);
        const quantity = Math.floor((costs.orderNotionalUsd / r.close) * 1e6) / 1e6;
        const exits = r.inputs.exits;
        held = {
          quantity,
          entryPrice: price,
          entryAtMs: r.asOf.getTime(),
          entryFee: fee(quantity * price),
          levels: exits
            ? exitLevels(exits, price, r.asOf.getTime())
            : { stopPrice: null, takeProfitPrice: null, expiresAtMs: null },
        };
      } else if (r.side === "SELL" && held) {
        close(r.asOf.getTime(), r.close, "signal");
      }
    }
    sweep(options.toMs);
    const last = candles[candles.length - 1];
    if (held !== null) {
      const h: Held = held;
      close(last ? last.ts + last.interval_sec * 1000 : h.entryAtMs, last?.close ?? h.entryPrice, "open");
    }
  }
  const closed = trades.filter((t) => t.exitReason !== "open");
  const exits: Partial<Record<ReplayExitReason, number>> = {};
  for (const t of closed) exits[t.exitReason] = (exits[t.exitReason] ?? 0) + 1;
  return {
    trades,
    pnl: {
      trades: trades.length,
      realisedPnl: closed.reduce((sum, t) => sum + t.pnl, 0),
      unrealisedPnl: trades.filter((t) => t.exitReason === "open").reduce((sum, t) => sum + t.pnl, 0),
      fees: trades.reduce((sum, t) => sum + t.fees, 0),
      exits,
    },
  };
}
