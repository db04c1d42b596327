import type { CommonQueryMethods } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import {
  candleTrigger,
  type ExitLevels,
  type ExitParams,
  exitLevels,
  exitParams,
  exitParamsFrom,
  holdingExpired,
} from "../common/exits.ts";
import type { Logger } from "../common/logger.ts";
import { exchangeTime, nyseSession } from "../common/market-calendar.ts";
import type { Params } from "../common/params/definitions.ts";
import type { DispatcherDeps } from "./deps.ts";
import { placeOrFindOrder } from "./executors/broker.ts";
import { simulateFill } from "./executors/dry-run.ts";
import { type Broker, type BrokerOrder, isDefinitiveRefusal } from "./executors/types.ts";
import {
  type ClaimedExit,
  claimExit,
  insertExitOrder,
  insertPositionExit,
  lockWatchedExits,
  markBracketLeg,
  markChecked,
  openLegIds,
  recordExitDecision,
  selectClosedCandles,
} from "./exit-queries.ts";
import { registerOrder } from "./fill-queries.ts";
import { applyOrderUpdate, updateFromRestOrder } from "./fills.ts";
import { evaluateExitGates, type GateFacts, type GateVerdict, type PlannedOrder } from "./gates.ts";
import { autonomousScope } from "./kill-switch.ts";
import type { Account } from "./portfolio.ts";
import { readDecisionFacts, selectRecentCloses, takeRiskLock } from "./queries.ts";

/**
 * Exits (issue 15, docs/dispatcher.md "Exits"). Every position gets a stop-loss, a take-profit
 * and a maximum holding time at entry, from its entry recommendation's stored exit parameters.
 * With a broker the stop and take-profit are a bracket order's legs, held by the broker; in
 * dry-run (and for a broker entry too small for a bracket) the dispatcher sweeps the candles
 * since entry each pass and queues an exit order when one triggers. Exit orders (a trigger, the
 * maximum holding time, an operator's `opsctl close`) are the dispatcher's own rows
 * (dispatch_exits), decided before recommendations, at most once, through the gates' reducing
 * path, and executed by the same simulator and broker code as recommendations.
 */

export { openPositionExits, type PositionExit } from "./exit-queries.ts";

/** A refused exit of a position is not queued again for this long (one row per 5 minutes, not per pass). */
export const EXIT_RETRY_BACKOFF_MS = 300_000;
/** Candles one sweep reads per position (a week of 5-minute bars is 546 session candles). */
const SWEEP_CANDLES = 2_000;

/** The exits a recommendation's entry gets: its own stored copy, else the parameters in effect now. */
export function entryExits(rec: { exits: unknown }, params: Params): ExitParams {
  const stored = exitParams.safeParse(rec.exits);
  return stored.success ? stored.data : exitParamsFrom(params);
}

/** The bracket for a broker BUY: both legs set and whole shares (Alpaca's bracket needs both). */
export function bracketFor(
  levels: ExitLevels,
  quantity: number,
): { takeProfitPrice: number; stopPrice: number } | undefined {
  if (levels.stopPrice === null || levels.takeProfitPrice === null) return undefined;
  if (!Number.isInteger(quantity) || quantity < 1) return undefined;
  return { takeProfitPrice: levels.takeProfitPrice, stopPrice: levels.stopPrice };
}

/**
 * A broker BUY's quantity: whole shares (rounded down) when the exits make it a bracket, so the
 * broker can hold its legs; unchanged otherwise, and when less than one share (then a simple
 * order whose exits the dispatcher watches itself).
 */
export function entryShares(exits: ExitParams, quantity: number): number {
  const bracket = exits.stopLossPct > 0 && exits.takeProfitPct > 0;
  return bracket && quantity >= 1 ? Math.floor(quantity) : quantity;
}

/**
 * Gives a position its exits after its entry filled (or was placed at the broker), in the
 * caller's transaction: a dispatch_position_exits row, and a bracket's legs registered as
 * orders so the stream and REST follower count their fills through fills.ts like any other.
 */
export async function recordEntryExits(
  tx: CommonQueryMethods,
  entry: {
    account: Account;
    ticker: string;
    recommendationId: number;
    entryPrice: number;
    exits: ExitParams;
    now: Date;
    brokerOrder?: BrokerOrder;
    quantity: number;
  },
): Promise<void> {
  const legs = { stopOrderId: null as string | null, takeProfitOrderId: null as string | null };
  for (const leg of entry.brokerOrder?.legs ?? []) {
    const kind = leg.type === "limit" ? "take-profit" : "stop-loss";
    if (kind === "take-profit") legs.takeProfitOrderId = leg.id;
    else legs.stopOrderId = leg.id;
    await registerOrder(tx, {
      brokerOrderId: leg.id,
      account: entry.account,
      clientOrderId: leg.client_order_id,
      recommendationId: null,
      ticker: entry.ticker,
      side: "SELL",
      quantity: Number(leg.qty ?? entry.quantity) || entry.quantity,
      status: leg.status,
      now: entry.now,
    });
    await markBracketLeg(tx, { legId: leg.id, parentId: entry.brokerOrder?.id ?? null, kind });
  }
  await insertPositionExit(tx, {
    account: entry.account,
    ticker: entry.ticker,
    entryRecommendationId: entry.recommendationId,
    entryPrice: entry.entryPrice,
    levels: exitLevels(entry.exits, entry.entryPrice, entry.now.getTime()),
    exits: entry.exits,
    legs,
    now: entry.now,
  });
}

/**
 * Cancels a position's open bracket legs at the broker before any other SELL of it (the broker
 * holds the shares for them: a SELL beside them is refused). Never under the risk lock.
 * @throws BrokerError when the broker cannot be reached.
 */
export async function cancelOpenLegs(
  conn: CommonQueryMethods,
  broker: Broker,
  position: { account: Account; ticker: string },
  logger: Logger,
): Promise<void> {
  for (const id of await openLegIds(conn, position)) {
    const canceled = await broker.cancelOrder(id);
    logger.info({ brokerOrderId: id, canceled }, "bracket leg canceled before selling the position");
  }
}

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
      const levels: ExitLevels = {
        stopPrice: exit.stop_price,
        takeProfitPrice: exit.take_profit_price,
        expiresAtMs: exit.expires_at,
      };
      const candles = await selectClosedCandles(tx, {
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

export type ExitOutcome =
  | { exitId: number; status: "EXECUTED"; ticker: string; reason: string; quantity: number; price: number }
  | { exitId: number; status: "REJECTED"; ticker: string; reason: string; rejectedGate: string }
  | { exitId: number; status: "FAILED"; ticker: string; reason: string; error: string };

interface GatedExit {
  order: PlannedOrder;
  verdict: GateVerdict;
}

/** Reads the facts and runs the exit gates (the caller holds the risk lock). */
async function gateExit(
  conn: CommonQueryMethods,
  deps: DispatcherDeps,
  params: Params,
  exit: ClaimedExit,
  now: Date,
): Promise<GatedExit> {
  const exchangeDate = exchangeTime(now).date;
  const f = await readDecisionFacts(conn, {
    account: exit.account,
    ticker: exit.ticker,
    now,
    exchangeDate,
    recommendationId: 0,
  });
  const position =
    f.held_quantity !== null && f.held_avg_cost !== null
      ? { quantity: f.held_quantity, avgCost: f.held_avg_cost }
      : null;
  const candle =
    f.candle_ts !== null && f.candle_close !== null && f.candle_interval_sec !== null
      ? { tsMs: f.candle_ts, close: f.candle_close, intervalSec: f.candle_interval_sec }
      : null;
  // A triggered stop or take-profit sells at its own price; a market exit at the newest close.
  const referencePrice = exit.trigger_price ?? candle?.close ?? position?.avgCost ?? 0;
  const quantity = position?.quantity ?? 0;
  const order: PlannedOrder = { side: "SELL", quantity, referencePrice, notional: quantity * referencePrice };
  const recentCloses = await selectRecentCloses(conn, {
    ticker: exit.ticker,
    now,
    count: params["reference-closes"],
  });
  const facts: GateFacts = {
    now,
    params,
    brokerConfigured: deps.broker !== null,
    recommendation: { id: exit.id, ticker: exit.ticker, side: "SELL", asOfMs: exit.requested_at },
    errorStreak: { consecutiveErrors: f.consecutive_errors, trippedAtMs: f.tripped_at },
    exchangeDate,
    tradesToday: f.trades_today,
    position,
    heldNotional: position ? position.quantity * referencePrice : 0,
    latestCandle: candle,
    recentCloses,
    order,
    openDifferences: f.open_differences,
  };
  return { order, verdict: evaluateExitGates(facts) };
}

/**
 * Decides one exit order of the account the dispatcher trades now: claim (its row lock is held
 * to COMMIT, so it is decided at most once however many dispatchers run), gate, execute, record.
 * The simulator runs under the risk lock in the claiming transaction; at the broker the gate
 * runs in a short transaction of its own, the bracket legs are canceled and the market SELL
 * (client order id `exit-<id>`, so a retry after a crash finds it instead of selling twice) is
 * sent without the risk lock, and its fill is recorded under it. Null when nothing is pending.
 * @throws on database failure (the exit stays PENDING and is retried).
 */
export async function dispatchExitOne(deps: DispatcherDeps, params: Params): Promise<ExitOutcome | null> {
  const broker = params["dry-run"] === false ? deps.broker : null;
  const account: Account = broker ? "alpaca-paper" : "dry-run";
  const now = deps.clock.now();
  // The broker's gate commits on its own connection, outside the claiming transaction.
  const autonomously = autonomousScope();
  return deps.db.transaction(async (tx): Promise<ExitOutcome | null> => {
    const exit = await claimExit(tx, { account, instance: deps.instance, now });
    if (!exit) return null;
    const log = deps.logger.child({ exitId: exit.id, ticker: exit.ticker, reason: exit.reason });
    const base = { exitId: exit.id, ticker: exit.ticker, reason: exit.reason };
    const clientOrderId = `exit-${exit.id}`;
    const reject = async (g: GatedExit, gateName: string): Promise<ExitOutcome> => {
      await recordExitDecision(tx, exit, now, {
        status: "REJECTED",
        gate: gateName,
        decisions: g.verdict.decisions,
      });
      log.info({ gate: gateName }, "exit rejected");
      return { ...base, status: "REJECTED", rejectedGate: gateName };
    };
    const fail = async (g: GatedExit, error: unknown): Promise<ExitOutcome> => {
      const message = describeCause(error);
      await recordExitDecision(tx, exit, now, {
        status: "FAILED",
        error: message,
        decisions: g.verdict.decisions,
      });
      log.error({ err: error }, "exit failed");
      return { ...base, status: "FAILED", error: message };
    };
    if (!broker) {
      await takeRiskLock(tx);
      const g = await gateExit(tx, deps, params, exit, now);
      if (g.verdict.rejectedGate !== null) return reject(g, g.verdict.rejectedGate);
      try {
        return await tx.transaction(async (sp) => {
          const executed = await simulateFill(
            sp,
            { ...g.order, ticker: exit.ticker, clientOrderId, recommendationId: null },
            deps.settings,
            now,
            log,
          );
          await recordExitDecision(sp, exit, now, {
            status: "EXECUTED",
            brokerOrderId: `dry-run:${clientOrderId}`,
            quantity: executed.quantity,
            price: executed.price,
            decisions: g.verdict.decisions,
          });
          log.info({ quantity: executed.quantity, price: executed.price }, "exit executed");
          return { ...base, status: "EXECUTED" as const, quantity: executed.quantity, price: executed.price };
        });
      } catch (error) {
        return fail(g, error);
      }
    }
    const g = await autonomously(() =>
      deps.db.transaction(async (own) => {
        await takeRiskLock(own);
        return gateExit(own, deps, params, exit, now);
      }),
    );
    if (g.verdict.rejectedGate !== null) return reject(g, g.verdict.rejectedGate);
    let placed: { order: BrokerOrder; placedNow: boolean };
    try {
      await cancelOpenLegs(tx, broker, exit, log);
      placed = await placeOrFindOrder(broker, { ...g.order, ticker: exit.ticker, clientOrderId });
    } catch (error) {
      // Unknown outcome: the exit stays PENDING; the next claim asks the broker for exit-<id> first.
      if (!isDefinitiveRefusal(error)) throw error;
      return fail(g, error);
    }
    await takeRiskLock(tx);
    await registerOrder(tx, {
      brokerOrderId: placed.order.id,
      account,
      clientOrderId,
      recommendationId: null,
      ticker: exit.ticker,
      side: "SELL",
      quantity: g.order.quantity,
      status: placed.order.status,
      now,
    });
    await applyOrderUpdate(tx, updateFromRestOrder(placed.order, "placement", now), {
      now,
      startingCashUsd: deps.settings.startingCashUsd,
      enforceCash: false,
      logger: log,
    });
    const filled = Number(placed.order.filled_avg_price);
    const price = Number.isFinite(filled) && filled > 0 ? filled : g.order.referencePrice;
    await recordExitDecision(tx, exit, now, {
      status: "EXECUTED",
      brokerOrderId: placed.order.id,
      quantity: g.order.quantity,
      price,
      decisions: g.verdict.decisions,
    });
    log.info({ brokerOrderId: placed.order.id, placedNow: placed.placedNow }, "exit sent to the broker");
    return { ...base, status: "EXECUTED", quantity: g.order.quantity, price };
  });
}

/**
 * One pass over exits, before recommendations (an exit reduces risk; it goes first): the sweep,
 * then up to `limit` pending exit orders.
 */
export async function dispatchExits(
  deps: DispatcherDeps,
  params: Params,
  limit: number,
): Promise<ExitOutcome[]> {
  const account: Account = params["dry-run"] === false && deps.broker ? "alpaca-paper" : "dry-run";
  await sweepExits(deps, account);
  const outcomes: ExitOutcome[] = [];
  while (outcomes.length < limit) {
    const outcome = await dispatchExitOne(deps, params);
    if (!outcome) break;
    outcomes.push(outcome);
  }
  return outcomes;
}
