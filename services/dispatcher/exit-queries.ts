import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import type { ExitLevels, ExitParams, ExitReason } from "../common/exits.ts";
import type { GateDecision } from "./gates.ts";
import type { Account } from "./portfolio.ts";

/**
 * The exits' SQL (sql/0123_dispatch_exits.sql): a position's exits (dispatch_position_exits) and
 * the exit orders the dispatcher decides (dispatch_exits). Every query takes `now` from the
 * injected clock. Callers that write hold the dispatcher's risk lock.
 */

export interface NewPositionExit {
  account: Account;
  ticker: string;
  entryRecommendationId: number | null;
  entryPrice: number;
  levels: ExitLevels;
  exits: ExitParams;
  legs: { stopOrderId: string | null; takeProfitOrderId: string | null };
  now: Date;
}

/**
 * Gives a position its exits at entry. A second entry into a ticker already held keeps the
 * first one's exits (the holding gate makes that rare: a fill recovered late).
 */
export async function insertPositionExit(tx: CommonQueryMethods, exit: NewPositionExit): Promise<void> {
  const at = sql.timestamp(exit.now);
  const { stopPrice, takeProfitPrice, expiresAtMs } = exit.levels;
  const insert = () =>
    tx.maybeOneFirst(sql.type(z.object({ id: z.number() }))`
      INSERT INTO dispatch_position_exits
        (account, ticker, entry_recommendation_id, entry_price, entered_at, stop_price, take_profit_price,
         expires_at, exit_params, stop_order_id, take_profit_order_id, checked_until)
      VALUES (${exit.account}, ${exit.ticker}, ${exit.entryRecommendationId}, ${exit.entryPrice}, ${at},
              ${stopPrice}, ${takeProfitPrice}, ${expiresAtMs === null ? null : sql.timestamp(new Date(expiresAtMs))},
              ${sql.jsonb(exit.exits)}, ${exit.legs.stopOrderId}, ${exit.legs.takeProfitOrderId}, ${at})
      ON CONFLICT (account, ticker) WHERE state <> 'closed' DO NOTHING
      RETURNING id`);
  if ((await insert()) !== null) return;
  // Exits left live by a position that went flat without a fill of ours (reconciliation adopting
  // the broker's view, a row deleted by hand) are older than the position now held: they end
  // here and this entry's take their place. Exits of the position still held are kept.
  const superseded = await tx.query(sql.unsafe`
    UPDATE dispatch_position_exits e SET state = 'closed', closed_at = ${at}, closed_by = 'superseded'
    FROM dispatch_positions p
    WHERE e.account = ${exit.account} AND e.ticker = ${exit.ticker} AND e.state <> 'closed'
      AND p.account = e.account AND p.ticker = e.ticker AND e.entered_at < p.opened_at`);
  if (superseded.rowCount > 0) await insert();
}

/**
 * Closes a position's exits once it is flat (any path: a leg's fill, an exit, the engine's
 * SELL, an operator's close). Returns the bracket legs still to cancel at the broker.
 */
export async function closePositionExits(
  tx: CommonQueryMethods,
  options: { account: Account; ticker: string; now: Date; by: string },
): Promise<string[]> {
  const rows = await tx.any(
    sql.type(z.object({ stop_order_id: z.string().nullable(), take_profit_order_id: z.string().nullable() }))`
      UPDATE dispatch_position_exits SET state = 'closed', closed_at = ${sql.timestamp(options.now)},
        closed_by = ${options.by}
      WHERE account = ${options.account} AND ticker = ${options.ticker} AND state <> 'closed'
      RETURNING stop_order_id, take_profit_order_id`,
  );
  return rows.flatMap((r) => [r.stop_order_id, r.take_profit_order_id]).filter((id) => id !== null);
}

/** Marks a registered order as a bracket's leg (it is the position's exit, not an order in flight). */
export async function markBracketLeg(
  tx: CommonQueryMethods,
  options: { legId: string; parentId: string | null; kind: "stop-loss" | "take-profit" },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE dispatch_orders SET parent_order_id = ${options.parentId}, leg = ${options.kind}
    WHERE broker_order_id = ${options.legId}`);
}

/** The bracket legs at the broker still open for a position (canceled before any other SELL). */
export async function openLegs(
  tx: CommonQueryMethods,
  options: { account: Account; ticker: string },
): Promise<readonly { broker_order_id: string; client_order_id: string }[]> {
  return tx.any(sql.type(z.object({ broker_order_id: z.string(), client_order_id: z.string() }))`
    SELECT broker_order_id, client_order_id FROM dispatch_orders
    WHERE account = ${options.account} AND ticker = ${options.ticker} AND leg IS NOT NULL AND NOT terminal
    ORDER BY created_at`);
}

const watchedRow = z.object({
  id: z.number(),
  ticker: z.string(),
  stop_price: z.number().nullable(),
  take_profit_price: z.number().nullable(),
  expires_at: z.number().nullable(),
  checked_until: z.number(),
  /** The broker holds its stop-loss and take-profit as bracket legs: only the holding time is ours. */
  bracketed: z.boolean(),
});
export type WatchedExit = z.infer<typeof watchedRow>;

/**
 * Open exits the dispatcher itself watches on positions still held (all three levels without a
 * bracket at the broker; with one, only the maximum holding time)
 * that a new closed candle or the clock may have triggered, locked so two dispatchers never
 * sweep one twice (one statement when nothing changed: the sweep costs nothing between candles). A position whose last exit was refused less
 * than `backoffMs` ago waits (a refused max-holding exit is not re-queued every pass).
 */
export async function lockWatchedExits(
  tx: CommonQueryMethods,
  options: { account: Account; now: Date; backoffMs: number },
): Promise<readonly WatchedExit[]> {
  return tx.any(sql.type(watchedRow)`
    SELECT e.id, e.ticker, e.stop_price, e.take_profit_price, e.expires_at, e.checked_until, b.bracketed
    FROM dispatch_position_exits e
    JOIN dispatch_positions p ON p.account = e.account AND p.ticker = e.ticker
    -- Bracketed while a leg is still working at the broker; once its legs are canceled (before a
    -- SELL that then did not go, or by hand) the dispatcher watches the levels itself.
    CROSS JOIN LATERAL (
      SELECT EXISTS (
        SELECT 1 FROM dispatch_orders o
        WHERE o.broker_order_id IN (e.stop_order_id, e.take_profit_order_id) AND NOT o.terminal
      ) AS bracketed
    ) b
    WHERE e.account = ${options.account} AND e.state = 'open'
      -- Only what can have changed: the holding time up (a bracketed position too: the broker
      -- watches its levels, not its age), or for one without working legs a candle closed since the last check.
      AND (e.expires_at <= ${sql.timestamp(options.now)} OR (
        NOT b.bracketed AND EXISTS (
        SELECT 1 FROM lane_telemetry c WHERE c.ticker = e.ticker AND c.ts >= e.checked_until
          AND c.ts + make_interval(secs => c.interval_sec) <= ${sql.timestamp(options.now)})))
      AND NOT EXISTS (
        SELECT 1 FROM dispatch_exits x WHERE x.position_exit_id = e.id AND x.status IN ('REJECTED', 'FAILED')
          AND x.decided_at > ${sql.timestamp(new Date(options.now.getTime() - options.backoffMs))})
    ORDER BY e.id
    FOR UPDATE OF e SKIP LOCKED`);
}

const candleRow = z.object({
  ts: z.number(),
  open: z.number(),
  high: z.number(),
  low: z.number(),
  close: z.number(),
  interval_sec: z.number(),
});

/** The ticker's candles that started at or after `fromMs` and had closed by `now`, oldest first. */
export async function selectClosedCandles(
  tx: CommonQueryMethods,
  options: { ticker: string; fromMs: number; now: Date; limit: number },
): Promise<readonly z.infer<typeof candleRow>[]> {
  return tx.any(sql.type(candleRow)`
    SELECT ts, open, high, low, close, interval_sec FROM lane_telemetry
    WHERE ticker = ${options.ticker} AND ts >= ${sql.timestamp(new Date(options.fromMs))}
      AND ts + make_interval(secs => interval_sec) <= ${sql.timestamp(options.now)}
    ORDER BY ts LIMIT ${options.limit}`);
}

/** Moves a watched exit's checked mark (and to 'triggered' when an exit order was queued for it). */
export async function markChecked(
  tx: CommonQueryMethods,
  options: { id: number; checkedUntilMs: number; triggered: boolean },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE dispatch_position_exits SET checked_until = ${sql.timestamp(new Date(options.checkedUntilMs))},
      state = CASE WHEN ${options.triggered}::boolean THEN 'triggered' ELSE state END
    WHERE id = ${options.id}`);
}

export interface NewExitOrder {
  account: Account;
  ticker: string;
  reason: ExitReason;
  positionExitId: number | null;
  triggerPrice: number | null;
  triggerCandleTsMs: number | null;
  requestedBy: string;
  note: string | null;
  now: Date;
}

/**
 * Queues an exit order; null when one is already pending for the position (the one queued
 * first stands: a second close of the same position would sell nothing).
 */
export async function insertExitOrder(tx: CommonQueryMethods, exit: NewExitOrder): Promise<number | null> {
  return tx.maybeOneFirst(sql.type(z.object({ id: z.number() }))`
    INSERT INTO dispatch_exits
      (account, ticker, reason, position_exit_id, trigger_price, trigger_candle_ts, requested_by, requested_at, note)
    VALUES (${exit.account}, ${exit.ticker}, ${exit.reason}, ${exit.positionExitId}, ${exit.triggerPrice},
            ${exit.triggerCandleTsMs === null ? null : sql.timestamp(new Date(exit.triggerCandleTsMs))},
            ${exit.requestedBy}, ${sql.timestamp(exit.now)}, ${exit.note})
    ON CONFLICT (account, ticker) WHERE status = 'PENDING' DO NOTHING
    RETURNING id`);
}

const claimedExitRow = z.object({
  id: z.number(),
  account: z.enum(["dry-run", "alpaca-paper"]),
  ticker: z.string(),
  reason: z.enum(["stop-loss", "take-profit", "max-holding", "operator"]),
  position_exit_id: z.number().nullable(),
  trigger_price: z.number().nullable(),
  requested_by: z.string(),
  requested_at: z.number(),
});
export type ClaimedExit = z.infer<typeof claimedExitRow>;

/**
 * Claims the oldest PENDING exit of `account` in one statement (its row lock is held to COMMIT,
 * so two dispatchers never decide one exit: SKIP LOCKED, like recommendations).
 */
export async function claimExit(
  tx: CommonQueryMethods,
  options: { account: Account; instance: string; now: Date },
): Promise<ClaimedExit | null> {
  return tx.maybeOne(sql.type(claimedExitRow)`
    UPDATE dispatch_exits x SET claimed_by = ${options.instance}, claimed_at = ${sql.timestamp(options.now)}
    WHERE x.id = (
      SELECT c.id FROM dispatch_exits c WHERE c.status = 'PENDING' AND c.account = ${options.account}
      ORDER BY c.id LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING x.id, x.account, x.ticker, x.reason, x.position_exit_id, x.trigger_price, x.requested_by,
      x.requested_at`);
}

/** Thrown when an exit this dispatcher claimed is no longer PENDING. */
export class LostExitClaimError extends Error {
  override readonly name = "LostExitClaimError";
  constructor(readonly exitId: number) {
    super(`exit ${exitId} left PENDING under us`);
  }
}

/**
 * Records an exit's decision: one UPDATE leaves PENDING. A refused or failed exit puts the
 * position's triggered exits back to open, so a later candle (or the next max-holding pass)
 * can try again.
 * @throws LostExitClaimError when the exit is no longer PENDING.
 */
export async function recordExitDecision(
  tx: CommonQueryMethods,
  exit: ClaimedExit,
  now: Date,
  outcome:
    | {
        status: "EXECUTED";
        brokerOrderId: string;
        quantity: number;
        price: number;
        decisions: readonly GateDecision[];
      }
    | { status: "REJECTED"; gate: string; decisions: readonly GateDecision[] }
    | { status: "FAILED"; error: string; decisions: readonly GateDecision[] },
): Promise<void> {
  const at = sql.timestamp(now);
  const executed = outcome.status === "EXECUTED" ? outcome : null;
  const result = await tx.query(sql.unsafe`
    UPDATE dispatch_exits SET status = ${outcome.status}, decided_at = ${at},
      rejected_gate = ${outcome.status === "REJECTED" ? outcome.gate : null},
      error = ${outcome.status === "FAILED" ? outcome.error : null},
      gate_decisions = ${sql.jsonb(outcome.decisions as never)},
      broker_order_id = ${executed?.brokerOrderId ?? null}, quantity = ${executed?.quantity ?? null},
      price = ${executed?.price ?? null}
    WHERE id = ${exit.id} AND status = 'PENDING'`);
  if (result.rowCount !== 1) throw new LostExitClaimError(exit.id);
  if (outcome.status === "EXECUTED") {
    await tx.query(sql.unsafe`
      UPDATE dispatch_orders SET exit_id = ${exit.id} WHERE broker_order_id = ${outcome.brokerOrderId}`);
  } else {
    await tx.query(sql.unsafe`
      UPDATE dispatch_position_exits SET state = 'open'
      WHERE account = ${exit.account} AND ticker = ${exit.ticker} AND state = 'triggered'`);
  }
}

const positionExitRow = z.object({
  id: z.number(),
  account: z.string(),
  ticker: z.string(),
  entry_recommendation_id: z.number().nullable(),
  entry_price: z.number(),
  entered_at: z.number(),
  stop_price: z.number().nullable(),
  take_profit_price: z.number().nullable(),
  expires_at: z.number().nullable(),
  stop_order_id: z.string().nullable(),
  take_profit_order_id: z.string().nullable(),
  state: z.enum(["open", "triggered", "closed"]),
});

/** A position's exits as operators see them (`opsctl positions`). */
export interface PositionExit {
  id: number;
  account: string;
  ticker: string;
  entryRecommendationId: number | null;
  entryPrice: number;
  enteredAt: string;
  stopPrice: number | null;
  takeProfitPrice: number | null;
  expiresAt: string | null;
  /** Where the stop and take-profit live: bracket legs at the broker, or the dispatcher's candle sweep. */
  watchedBy: "broker-bracket" | "dispatcher";
  stopOrderId: string | null;
  takeProfitOrderId: string | null;
  /** open: watched; triggered: an exit order is queued. */
  state: "open" | "triggered";
}

/**
 * The open (or triggered) exits of every position, or of one account / ticker: what
 * `opsctl positions` shows beside each position. Read-only; needs SELECT on
 * dispatch_position_exits (ops_api, ops_dispatcher, ops_watchdog have it).
 */
export async function openPositionExits(
  db: CommonQueryMethods,
  filter: { account?: string; ticker?: string } = {},
): Promise<PositionExit[]> {
  const rows = await db.any(sql.type(positionExitRow)`
    SELECT id, account, ticker, entry_recommendation_id, entry_price, entered_at, stop_price, take_profit_price,
      expires_at, stop_order_id, take_profit_order_id, state
    FROM dispatch_position_exits
    WHERE state <> 'closed'
      AND (${filter.account ?? null}::text IS NULL OR account = ${filter.account ?? null})
      AND (${filter.ticker ?? null}::text IS NULL OR ticker = ${filter.ticker ?? null})
    ORDER BY account, ticker`);
  return rows.map((r) => ({
    id: r.id,
    account: r.account,
    ticker: r.ticker,
    entryRecommendationId: r.entry_recommendation_id,
    entryPrice: r.entry_price,
    enteredAt: new Date(r.entered_at).toISOString(),
    stopPrice: r.stop_price,
    takeProfitPrice: r.take_profit_price,
    expiresAt: r.expires_at === null ? null : new Date(r.expires_at).toISOString(),
    watchedBy: r.stop_order_id !== null || r.take_profit_order_id !== null ? "broker-bracket" : "dispatcher",
    stopOrderId: r.stop_order_id,
    takeProfitOrderId: r.take_profit_order_id,
    state: r.state === "triggered" ? "triggered" : "open",
  }));
}
