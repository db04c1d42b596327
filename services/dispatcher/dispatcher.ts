import { AsyncResource } from "node:async_hooks";
import { setTimeout as delay } from "node:timers/promises";
import * as z from "zod";
import type { Clock } from "../common/clock.ts";
import type { DispatcherConfig } from "../common/config.ts";
import {
  type CommonQueryMethods,
  type DatabasePool,
  type DatabaseTransactionConnection,
  sql,
} from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import { recordHeartbeat } from "../common/heartbeats.ts";
import type { Logger } from "../common/logger.ts";
import type { Params } from "../common/params/definitions.ts";
import type { ParameterStore } from "../common/params/store.ts";
import { type Broker, BrokerError } from "./executors/alpaca.ts";
import { placeOrFindOrder, recordBrokerFill, recordBrokerIntent } from "./executors/broker.ts";
import { simulateFill } from "./executors/dry-run.ts";
import type { ExecutionResult } from "./executors/types.ts";
import { evaluateGates, type GateDecision, type GateFacts, type PlannedOrder } from "./gates.ts";
import { exchangeTime } from "./market-hours.ts";
import { NYSE_TIME_ZONE } from "./nyse-calendar.ts";
import type { Account, AccountState } from "./portfolio.ts";
import { selectRecentCloses } from "./reference-closes.ts";

export const DISPATCHER_STAGE = "dispatcher";
/**
 * Serialises the part of every decision that reads and writes shared risk state (trades today,
 * positions, cash, the error streak), across all dispatchers: two of them must not both see
 * "19 of 20 trades" and both trade. Claiming stays parallel (SKIP LOCKED); only gate+record is
 * one at a time. Two-int form, key space (4040, n) reserved for the dispatcher.
 */
const RISK_LOCK = sql.fragment`pg_advisory_xact_lock(4040, 1)`;

export type DispatcherSettings = Omit<DispatcherConfig, "alpaca">;

export interface DispatcherDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  /** Read once per batch; wrap the real store with cachedParameterStore (≤ 15 s). */
  params: ParameterStore;
  /**
   * The same store uncached: consulted only while the kill switch is tripped, to see an
   * operator's reset at once (a cached "disengaged" from before the trip must not count).
   */
  freshParams: ParameterStore;
  instance: string;
  settings: DispatcherSettings;
  /** Null: no broker configured, so dry-run off rejects at the dry-run gate. */
  broker: Broker | null;
  /** Test seam: runs after an execution is written and before its transaction commits. */
  beforeCommit?: (recommendationId: number) => Promise<void>;
}

export type Outcome =
  | { id: number; status: "EXECUTED"; executor: "dry-run" | "alpaca-paper"; recovered: boolean }
  | { id: number; status: "REJECTED"; rejectedGate: string }
  | { id: number; status: "FAILED"; error: string; trippedKillSwitch: boolean };

const claimedRow = z.object({
  id: z.number(),
  ticker: z.string(),
  side: z.enum(["BUY", "SELL"]),
  as_of: z.number(),
  close: z.number(),
});
type Claimed = z.infer<typeof claimedRow>;
const streakRow = z.object({ consecutive_errors: z.number(), tripped_at: z.number().nullable() });
const factsRow = z.object({
  consecutive_errors: z.number(),
  tripped_at: z.number().nullable(),
  trades_today: z.number(),
  held_quantity: z.number().nullable(),
  held_avg_cost: z.number().nullable(),
  cash: z.number().nullable(),
  candle_ts: z.number().nullable(),
  candle_close: z.number().nullable(),
  candle_interval_sec: z.number().nullable(),
});
const intentRow = z.object({ order_request: z.unknown(), gate_decisions: z.unknown() });
const plannedOrder = z.object({
  side: z.enum(["BUY", "SELL"]),
  quantity: z.number().positive(),
  referencePrice: z.number().positive(),
  notional: z.number(),
  ticker: z.string(),
});

/**
 * Claims the oldest PENDING recommendation in one statement. FOR NO KEY UPDATE (not FOR
 * UPDATE) so the broker intent, inserted on another connection while this lock is held, can
 * take its foreign-key share lock instead of waiting on us forever. A recommendation that has a
 * broker intent is left alone while no broker may be called (dry-run on): only the broker can
 * say whether its order exists.
 */
async function claimOne(
  tx: CommonQueryMethods,
  instance: string,
  now: Date,
  brokerActive: boolean,
): Promise<Claimed | null> {
  return tx.maybeOne(sql.type(claimedRow)`
    UPDATE dispatch_recommendations r SET claimed_by = ${instance}, claimed_at = ${sql.timestamp(now)}
    WHERE r.id = (
      SELECT c.id FROM dispatch_recommendations c
      WHERE c.status = 'PENDING'
        AND (${brokerActive}::boolean
             OR NOT EXISTS (SELECT 1 FROM dispatch_broker_intents i WHERE i.recommendation_id = c.id))
      ORDER BY c.id
      LIMIT 1
      FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING r.id, r.ticker, r.side, r.as_of, r.close`);
}

/** Shares to buy for `notionalUsd` at `price`, rounded down to 6 decimals (fractional shares). */
export function sharesFor(notionalUsd: number, price: number): number {
  return Math.floor((notionalUsd / price) * 1e6) / 1e6;
}

async function decide(
  tx: CommonQueryMethods,
  id: number,
  now: Date,
  outcome:
    | { status: "REJECTED"; gate: string; decisions: readonly GateDecision[] }
    | { status: "FAILED"; error: string; decisions: readonly GateDecision[] },
): Promise<void> {
  // One UPDATE leaves PENDING (invariant 4); the status guard makes a lost claim fail loudly.
  const result = await tx.query(sql.unsafe`
    UPDATE dispatch_recommendations SET
      status = ${outcome.status},
      decided_at = ${sql.timestamp(now)},
      rejected_gate = ${outcome.status === "REJECTED" ? outcome.gate : null},
      error = ${outcome.status === "FAILED" ? outcome.error : null},
      gate_decisions = ${sql.jsonb(outcome.decisions as never)}
    WHERE id = ${id} AND status = 'PENDING'`);
  if (result.rowCount !== 1) throw new Error(`recommendation ${id} left PENDING under us`);
}

/**
 * Records an execution in one statement: the execution row, the error streak's reset (a
 * success breaks it) and the recommendation's move to EXECUTED (invariant 4).
 */
async function recordExecuted(
  tx: CommonQueryMethods,
  rec: Claimed,
  result: ExecutionResult,
  decisions: readonly GateDecision[],
  now: Date,
): Promise<void> {
  const at = sql.timestamp(now);
  const updated = await tx.query(sql.unsafe`
    WITH execution AS (
      INSERT INTO dispatch_executions
        (recommendation_id, executor, client_order_id, broker_order_id, ticker, side, quantity, price, notional,
         fees, executed_at, details, account, realised_pnl)
      VALUES (${rec.id}, ${result.executor}, ${String(rec.id)}, ${result.brokerOrderId}, ${rec.ticker}, ${rec.side},
              ${result.quantity}, ${result.price}, ${result.quantity * result.price}, ${result.fees},
              ${at}, ${sql.jsonb(result.details as never)}, ${result.account}, ${result.realisedPnl})
      RETURNING recommendation_id
    ), streak AS (
      UPDATE dispatch_error_streak SET consecutive_errors = 0 WHERE consecutive_errors <> 0 RETURNING 1
    )
    UPDATE dispatch_recommendations SET status = 'EXECUTED', decided_at = ${at},
      gate_decisions = ${sql.jsonb(decisions as never)}
    WHERE id = (SELECT recommendation_id FROM execution) AND status = 'PENDING'`);
  if (updated.rowCount !== 1) throw new Error(`recommendation ${rec.id} left PENDING under us`);
}

/**
 * Decides one recommendation: claim, gates, execute, record, all in one transaction that holds
 * the recommendation's row lock throughout. A dispatcher that dies anywhere before COMMIT
 * leaves the recommendation PENDING with nothing recorded (the server aborts the transaction
 * when the connection drops); the only effect that can outlive it is a broker order, and that
 * one is covered by the intent written before it was sent. Returns null when nothing is
 * claimable.
 * @throws on database failure (the recommendation stays PENDING and is retried).
 */
export async function dispatchOne(deps: DispatcherDeps, batchParams: Params): Promise<Outcome | null> {
  const now = deps.clock.now();
  let params = batchParams;
  if (params["dry-run"] === false && deps.broker !== null) {
    // Turning dry-run on must stop broker calls at once, not when the cache expires: a decision
    // that could reach the broker re-reads the parameters uncached. Broker orders are rare; the
    // extra read is nothing beside the HTTP call.
    params = await deps.freshParams.getAll();
  }
  const brokerActive = () => params["dry-run"] === false && deps.broker !== null;
  let trip: { reason: string } | null = null;
  // Slonik refuses queries on another connection from inside a transaction's async context.
  // The intent and the kill-switch parameter must commit on their own, before ours, so they run
  // in the context captured here, outside the transaction.
  const outside = new AsyncResource("ops-dispatcher-autonomous");
  const autonomously = <T>(fn: () => Promise<T>): Promise<T> => outside.runInAsyncScope(fn);

  const transaction = deps.db.transaction(async (tx): Promise<Outcome | null> => {
    const rec = await claimOne(tx, deps.instance, now, brokerActive());
    if (!rec) return null;
    const log = deps.logger.child({ recommendationId: rec.id, ticker: rec.ticker, side: rec.side });
    await tx.query(sql.unsafe`SELECT ${RISK_LOCK}`);

    // Everything the gates and the executor need, read in one statement under the risk lock.
    const account: Account = brokerActive() ? "alpaca-paper" : "dry-run";
    const local = exchangeTime(now);
    const f = await tx.one(sql.type(factsRow)`
      SELECT s.consecutive_errors, s.tripped_at,
        (SELECT count(*)::int FROM dispatch_executions
          WHERE executed_at >= (${local.date}::date::timestamp AT TIME ZONE ${NYSE_TIME_ZONE})
            AND executed_at < ((${local.date}::date + 1)::timestamp AT TIME ZONE ${NYSE_TIME_ZONE})) AS trades_today,
        p.quantity AS held_quantity, p.avg_cost AS held_avg_cost, a.cash,
        c.ts AS candle_ts, c.close AS candle_close, c.interval_sec AS candle_interval_sec
      FROM dispatch_error_streak s
      LEFT JOIN dispatch_positions p ON p.account = ${account} AND p.ticker = ${rec.ticker}
      LEFT JOIN dispatch_accounts a ON a.account = ${account}
      LEFT JOIN LATERAL (
        SELECT ts, close, interval_sec FROM lane_telemetry
        WHERE ticker = ${rec.ticker} AND ts <= ${sql.timestamp(now)} ORDER BY ts DESC LIMIT 1
      ) c ON true`);
    const position =
      f.held_quantity !== null && f.held_avg_cost !== null
        ? { quantity: f.held_quantity, avgCost: f.held_avg_cost }
        : null;
    const state: AccountState = { cash: f.cash, held: position };
    const candle =
      f.candle_ts !== null && f.candle_close !== null && f.candle_interval_sec !== null
        ? { tsMs: f.candle_ts, close: f.candle_close, intervalSec: f.candle_interval_sec }
        : null;

    // A broker order may already exist for this recommendation: ask before deciding anything.
    if (brokerActive() && deps.broker) {
      const intent = await tx.maybeOne(sql.type(intentRow)`
        SELECT order_request, gate_decisions FROM dispatch_broker_intents WHERE recommendation_id = ${rec.id}`);
      if (intent) {
        const existing = await deps.broker.getOrderByClientOrderId(String(rec.id));
        if (existing) {
          const order = plannedOrder.parse(intent.order_request);
          const result = await recordBrokerFill(tx, order, existing, state, {
            now,
            startingCashUsd: deps.settings.startingCashUsd,
            recovered: true,
            placedNow: false,
          });
          await recordExecuted(tx, rec, result, intent.gate_decisions as GateDecision[], now);
          log.warn({ brokerOrderId: existing.id }, "recovered a broker order placed before a crash");
          await deps.beforeCommit?.(rec.id);
          return { id: rec.id, status: "EXECUTED", executor: "alpaca-paper", recovered: true };
        }
        log.info("broker has no order for an earlier intent: the order never left; deciding afresh");
      }
    }

    let streak = { consecutiveErrors: f.consecutive_errors, trippedAtMs: f.tripped_at };
    if (streak.trippedAtMs !== null) {
      // Tripped: only an operator disengaging the parameter resets the streak. The parameter was
      // engaged before tripped_at was committed, so a fresh read saying "disengaged" is a reset.
      params = await autonomously(() => deps.freshParams.getAll());
      if (!params["kill-switch"].engaged) {
        await tx.query(sql.unsafe`
          UPDATE dispatch_error_streak SET consecutive_errors = 0, tripped_at = NULL`);
        log.info("kill switch was reset by an operator; error streak cleared");
        streak = { consecutiveErrors: 0, trippedAtMs: null };
      }
    }
    if (brokerActive() !== (account === "alpaca-paper")) {
      // The fresh parameters flipped dry-run under us; decide this one on the next pass.
      throw new Error("dry-run changed while deciding; retrying");
    }

    const referencePrice = candle?.close ?? rec.close;
    const quantity =
      rec.side === "BUY"
        ? sharesFor(deps.settings.orderNotionalUsd, referencePrice)
        : (position?.quantity ?? 0);
    const order: PlannedOrder = {
      side: rec.side,
      quantity,
      referencePrice,
      notional: quantity * referencePrice,
    };
    // Order gates (issue 17): the trusted closes the reference price and notional are checked against.
    const recentCloses = await selectRecentCloses(tx, {
      ticker: rec.ticker,
      now,
      count: params["reference-closes"],
    });
    const facts: GateFacts = {
      now,
      params,
      brokerConfigured: deps.broker !== null,
      recommendation: { id: rec.id, ticker: rec.ticker, side: rec.side, asOfMs: rec.as_of },
      errorStreak: streak,
      exchangeDate: local.date,
      tradesToday: f.trades_today,
      position,
      heldNotional: position ? position.quantity * referencePrice : 0,
      latestCandle: candle,
      recentCloses,
      order,
    };
    const verdict = evaluateGates(facts);
    if (verdict.rejectedGate !== null) {
      await decide(tx, rec.id, now, {
        status: "REJECTED",
        gate: verdict.rejectedGate,
        decisions: verdict.decisions,
      });
      log.info({ gate: verdict.rejectedGate }, "rejected");
      return { id: rec.id, status: "REJECTED", rejectedGate: verdict.rejectedGate };
    }

    // Execute inside a savepoint: an execution error rolls back its partial writes, and the
    // FAILED status is then recorded in the same outer transaction.
    let orderSent = false;
    try {
      const result = await tx.transaction(async (sp: DatabaseTransactionConnection) => {
        const toFill = { ...order, ticker: rec.ticker };
        let executed: ExecutionResult;
        if (verdict.executor === "broker" && deps.broker) {
          await autonomously(() =>
            recordBrokerIntent(deps.db, {
              recommendationId: rec.id,
              clientOrderId: String(rec.id),
              instance: deps.instance,
              now,
              order: toFill,
              decisions: verdict.decisions,
            }),
          );
          orderSent = true;
          const placed = await placeOrFindOrder(deps.broker, { ...toFill, clientOrderId: String(rec.id) });
          executed = await recordBrokerFill(sp, toFill, placed.order, state, {
            now,
            startingCashUsd: deps.settings.startingCashUsd,
            recovered: false,
            placedNow: placed.placedNow,
          });
        } else {
          executed = await simulateFill(sp, toFill, state, deps.settings, now);
        }
        await recordExecuted(sp, rec, executed, verdict.decisions, now);
        await deps.beforeCommit?.(rec.id);
        return executed;
      });
      log.info(
        { executor: result.executor, quantity: result.quantity, price: result.price },
        "executed; next recommendation",
      );
      return { id: rec.id, status: "EXECUTED", executor: result.executor, recovered: false };
    } catch (error) {
      const message = describeCause(error);
      if (orderSent && !isDefinitiveRefusal(error)) {
        // The order may exist at the broker: FAILED would be a lie nobody reconciles. Abort the
        // whole transaction; the recommendation stays PENDING with its intent and the next claim
        // asks the broker. The error still counts towards the kill switch (below, outside).
        log.error({ err: error }, "broker outcome unknown; leaving PENDING with its intent for recovery");
        throw new UnknownBrokerOutcomeError(rec.id, error);
      }
      trip = await countExecutionError(tx, deps, params, message, now, autonomously);
      await decide(tx, rec.id, now, { status: "FAILED", error: message, decisions: verdict.decisions });
      log.error({ err: error, trippedKillSwitch: trip !== null }, "execution failed");
      return { id: rec.id, status: "FAILED", error: message, trippedKillSwitch: trip !== null };
    }
  });
  let outcome: Outcome | null;
  try {
    outcome = await transaction;
  } catch (error) {
    if (error instanceof UnknownBrokerOutcomeError) {
      const counted = await deps.db.transaction(async (tx) => {
        await tx.query(sql.unsafe`SELECT ${RISK_LOCK}`);
        return countExecutionError(tx, deps, params, describeCause(error), now, autonomously);
      });
      if (counted) deps.logger.error({ reason: counted.reason }, "kill switch tripped");
    }
    throw error;
  }
  if (trip) deps.logger.error({ reason: (trip as { reason: string }).reason }, "kill switch tripped");
  return outcome;
}

/** A broker call failed in a way that does not say whether the order exists. */
export class UnknownBrokerOutcomeError extends Error {
  override readonly name = "UnknownBrokerOutcomeError";
  constructor(
    readonly recommendationId: number,
    cause: unknown,
  ) {
    super(`broker outcome unknown for recommendation ${recommendationId}: ${describeCause(cause)}`, {
      cause,
    });
  }
}

/** A 4xx other than timeout / rate limit: the broker refused, so no order exists. */
function isDefinitiveRefusal(error: unknown): boolean {
  return (
    error instanceof BrokerError &&
    error.status !== undefined &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 408 &&
    error.status !== 429
  );
}

/**
 * Counts one execution error in the shared streak (caller holds the risk lock) and trips the
 * kill switch when the streak reaches the threshold: the parameter is engaged first (audited,
 * its own transaction), then the streak is marked tripped in the caller's, so a crash in
 * between leaves the switch engaged (safe), never the reverse.
 */
async function countExecutionError(
  tx: CommonQueryMethods,
  deps: DispatcherDeps,
  params: Params,
  message: string,
  now: Date,
  autonomously: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<{ reason: string } | null> {
  const threshold = params["kill-switch-error-threshold"];
  const updated = await tx.one(sql.type(streakRow)`
    UPDATE dispatch_error_streak SET consecutive_errors = consecutive_errors + 1,
      last_error = ${message}, last_error_at = ${sql.timestamp(now)}
    RETURNING consecutive_errors, tripped_at`);
  if (updated.consecutive_errors < threshold || updated.tripped_at !== null) return null;
  const reason = `tripped after ${updated.consecutive_errors} consecutive execution errors; last: ${message}`;
  await autonomously(() =>
    deps.params.set(
      "kill-switch",
      { engaged: true, reason, at: now.toISOString(), by: `dispatcher:${deps.instance}` },
      { changedBy: `dispatcher:${deps.instance}`, reason },
    ),
  );
  await tx.query(sql.unsafe`UPDATE dispatch_error_streak SET tripped_at = ${sql.timestamp(now)}`);
  return { reason };
}

export interface BatchSummary {
  decided: number;
  executed: number;
  rejected: number;
  failed: number;
  outcomes: Outcome[];
}

/**
 * Reads the parameters once (through the cache) and decides up to `batchSize` recommendations.
 * @throws InvalidParameterError when a stored parameter is invalid (nothing is decided then).
 */
export async function dispatchBatch(deps: DispatcherDeps, signal?: AbortSignal): Promise<BatchSummary> {
  const params = await deps.params.getAll();
  const summary: BatchSummary = { decided: 0, executed: 0, rejected: 0, failed: 0, outcomes: [] };
  while (summary.decided < deps.settings.batchSize && !signal?.aborted) {
    const outcome = await dispatchOne(deps, params);
    if (!outcome) break;
    summary.decided += 1;
    summary.outcomes.push(outcome);
    if (outcome.status === "EXECUTED") summary.executed += 1;
    else if (outcome.status === "REJECTED") summary.rejected += 1;
    else summary.failed += 1;
  }
  return summary;
}

/** Wake-ups from NOTIFY, remembered while a batch runs so none is lost. */
export class Waker {
  #pending = false;
  #resolve: (() => void) | undefined;
  wake(): void {
    this.#pending = true;
    this.#resolve?.();
  }
  /** Resolves on a wake-up (or one that came since the last wait), the timeout, or abort. */
  async wait(timeoutMs: number, signal: AbortSignal): Promise<"woken" | "timeout" | "aborted"> {
    if (this.#pending) {
      this.#pending = false;
      return "woken";
    }
    if (signal.aborted) return "aborted";
    const woken = new Promise<"woken">((resolve) => {
      this.#resolve = () => resolve("woken");
    });
    // The timer is cancelled when a wake-up wins: otherwise each wait would leave a poll-interval
    // timer, and an abort listener on the long-lived run signal, behind it.
    const timer = new AbortController();
    const stop = () => timer.abort();
    signal.addEventListener("abort", stop, { once: true });
    const result = await Promise.race([
      woken,
      delay(timeoutMs, "timeout" as const, { signal: timer.signal }).catch(() => "aborted" as const),
    ]);
    timer.abort();
    signal.removeEventListener("abort", stop);
    this.#resolve = undefined;
    this.#pending = false;
    return signal.aborted ? "aborted" : result;
  }
}

export interface RunOptions {
  signal: AbortSignal;
  /** Subscribes to the channel; returns a closer. Absent: poll only. */
  listen?: (onNotify: () => void) => Promise<{ close(): Promise<void> }>;
  /** Called after every batch (tests and the benchmark count with it). */
  onBatch?: (summary: BatchSummary) => void;
}

/**
 * The always-on loop: a batch, a heartbeat, then wait for a NOTIFY or the poll interval. A
 * full batch loops at once. Database errors are logged and retried after the poll interval;
 * they never end the loop. Resolves once `signal` aborts and the current decision is done.
 */
export async function runDispatcher(deps: DispatcherDeps, options: RunOptions): Promise<void> {
  const { signal } = options;
  const waker = new Waker();
  const listener = options.listen ? await options.listen(() => waker.wake()) : undefined;
  const totals = { decided: 0, executed: 0, rejected: 0, failed: 0, errors: 0 };
  try {
    while (!signal.aborted) {
      let full = false;
      let lastError: string | null = null;
      try {
        const summary = await dispatchBatch(deps, signal);
        totals.decided += summary.decided;
        totals.executed += summary.executed;
        totals.rejected += summary.rejected;
        totals.failed += summary.failed;
        full = summary.decided >= deps.settings.batchSize;
        options.onBatch?.(summary);
      } catch (error) {
        totals.errors += 1;
        lastError = describeCause(error);
        deps.logger.error({ err: error }, "batch failed; retrying after the poll interval");
      }
      await recordHeartbeat(deps.db, {
        stage: DISPATCHER_STAGE,
        instance: deps.instance,
        at: deps.clock.now(),
        details: { ...totals, lastError, listening: listener !== undefined },
      }).catch((error: unknown) => deps.logger.warn({ err: error }, "could not record heartbeat"));
      if (!full) await waker.wait(deps.settings.pollIntervalMs, signal);
    }
  } finally {
    await listener?.close();
  }
}
