import * as z from "zod";
import type { CommonQueryMethods, DatabaseTransactionConnection } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { exchangeTime } from "../common/market-calendar.ts";
import type { Params } from "../common/params/definitions.ts";
import { type DispatcherDeps, type Outcome, sharesFor, UnknownBrokerOutcomeError } from "./deps.ts";
import { placeOrFindOrder, recordBrokerFill } from "./executors/broker.ts";
import { simulateFill } from "./executors/dry-run.ts";
import { type ExecutionResult, isDefinitiveRefusal } from "./executors/types.ts";
import {
  evaluateGates,
  type GateDecision,
  type GateFacts,
  type GateVerdict,
  type PlannedOrder,
} from "./gates.ts";
import {
  type Autonomously,
  autonomousScope,
  countExecutionError,
  resetIfOperatorDisengaged,
  type Streak,
} from "./kill-switch.ts";
import type { Account, AccountState } from "./portfolio.ts";
import {
  type ClaimedRecommendation,
  claimRecommendation,
  readBrokerIntent,
  readDecisionFacts,
  recordBrokerIntent,
  recordDecision,
  recordExecuted,
  takeRiskLock,
} from "./queries.ts";

const plannedOrder = z.object({
  side: z.enum(["BUY", "SELL"]),
  quantity: z.number().positive(),
  referencePrice: z.number().positive(),
  notional: z.number(),
  ticker: z.string(),
});

/** One decision in progress: what every step reads and the little state they share. */
interface Decision {
  readonly deps: DispatcherDeps;
  readonly now: Date;
  /** The parameters the decision uses; replaced by a fresh read when the kill switch is tripped. */
  params: Params;
  readonly autonomously: Autonomously;
  /** Set when an error this decision counted tripped the kill switch. */
  trip: { reason: string } | null;
}

const brokerActive = (d: Decision) => d.params["dry-run"] === false && d.deps.broker !== null;

/** A claimed recommendation and the facts read for it under the risk lock. */
interface Claimed {
  rec: ClaimedRecommendation;
  log: Logger;
  account: Account;
  exchangeDate: string;
  tradesToday: number;
  state: AccountState;
  streak: Streak;
  candle: { tsMs: number; close: number; intervalSec: number } | null;
}

/**
 * Step 1, claim: the oldest claimable PENDING recommendation, then the risk lock and every fact
 * the later steps need, read in one statement under it. Null when nothing is claimable.
 */
async function claim(tx: CommonQueryMethods, d: Decision): Promise<Claimed | null> {
  const rec = await claimRecommendation(tx, {
    instance: d.deps.instance,
    now: d.now,
    brokerActive: brokerActive(d),
  });
  if (!rec) return null;
  const log = d.deps.logger.child({ recommendationId: rec.id, ticker: rec.ticker, side: rec.side });
  await takeRiskLock(tx);
  const account: Account = brokerActive(d) ? "alpaca-paper" : "dry-run";
  const exchangeDate = exchangeTime(d.now).date;
  const f = await readDecisionFacts(tx, { account, ticker: rec.ticker, now: d.now, exchangeDate });
  const held =
    f.held_quantity !== null && f.held_avg_cost !== null
      ? { quantity: f.held_quantity, avgCost: f.held_avg_cost }
      : null;
  return {
    rec,
    log,
    account,
    exchangeDate,
    tradesToday: f.trades_today,
    state: { cash: f.cash, held },
    streak: { consecutiveErrors: f.consecutive_errors, trippedAtMs: f.tripped_at },
    candle:
      f.candle_ts !== null && f.candle_close !== null && f.candle_interval_sec !== null
        ? { tsMs: f.candle_ts, close: f.candle_close, intervalSec: f.candle_interval_sec }
        : null,
  };
}

/**
 * Step 2, recover intent: a broker order may already exist for this recommendation (an earlier
 * attempt wrote its intent and died). Ask the broker before deciding anything; an order it has
 * is recorded as this recommendation's execution. Null when there is nothing to recover.
 */
async function recoverIntent(tx: CommonQueryMethods, d: Decision, c: Claimed): Promise<Outcome | null> {
  const broker = d.deps.broker;
  if (!brokerActive(d) || !broker) return null;
  const intent = await readBrokerIntent(tx, c.rec.id);
  if (!intent) return null;
  const existing = await broker.getOrderByClientOrderId(String(c.rec.id));
  if (!existing) {
    c.log.info("broker has no order for an earlier intent: the order never left; deciding afresh");
    return null;
  }
  const order = plannedOrder.parse(intent.order_request);
  const result = await recordBrokerFill(tx, order, existing, c.state, {
    now: d.now,
    startingCashUsd: d.deps.settings.startingCashUsd,
    recovered: true,
    placedNow: false,
  });
  await recordExecuted(tx, c.rec, result, intent.gate_decisions as GateDecision[], d.now);
  c.log.warn({ brokerOrderId: existing.id }, "recovered a broker order placed before a crash");
  await d.deps.beforeCommit?.(c.rec.id);
  return { id: c.rec.id, status: "EXECUTED", executor: "alpaca-paper", recovered: true };
}

/**
 * Step 3, gate: sizes the order at the newest close and runs every gate (gates.ts) on the facts.
 * A tripped streak is first checked against a fresh read of the parameter (an operator's reset).
 * @throws Error when the fresh parameters flipped dry-run under us (the next pass decides it).
 */
async function gate(
  tx: CommonQueryMethods,
  d: Decision,
  c: Claimed,
): Promise<{ order: PlannedOrder; verdict: GateVerdict }> {
  const reset = await resetIfOperatorDisengaged(
    tx,
    { ...d.deps, logger: c.log },
    { streak: c.streak, params: d.params, autonomously: d.autonomously },
  );
  d.params = reset.params;
  if (brokerActive(d) !== (c.account === "alpaca-paper")) {
    throw new Error("dry-run changed while deciding; retrying");
  }
  const position = c.state.held;
  const referencePrice = c.candle?.close ?? c.rec.close;
  const quantity =
    c.rec.side === "BUY"
      ? sharesFor(d.deps.settings.orderNotionalUsd, referencePrice)
      : (position?.quantity ?? 0);
  const order: PlannedOrder = {
    side: c.rec.side,
    quantity,
    referencePrice,
    notional: quantity * referencePrice,
  };
  const facts: GateFacts = {
    now: d.now,
    params: d.params,
    brokerConfigured: d.deps.broker !== null,
    recommendation: { id: c.rec.id, ticker: c.rec.ticker, side: c.rec.side, asOfMs: c.rec.as_of },
    errorStreak: reset.streak,
    exchangeDate: c.exchangeDate,
    tradesToday: c.tradesToday,
    position,
    heldNotional: position ? position.quantity * referencePrice : 0,
    latestCandle: c.candle,
    order,
  };
  return { order, verdict: evaluateGates(facts) };
}

/**
 * Step 4, execute: the simulator, or the broker after the write-ahead intent is committed.
 * Runs in the savepoint `sp`, whose writes roll back with it if anything throws.
 * @throws BrokerError / InsufficientCashError / database errors; `sent` says whether an order
 * may have left.
 */
async function execute(
  sp: CommonQueryMethods,
  d: Decision,
  c: Claimed,
  order: PlannedOrder,
  verdict: GateVerdict,
  sent: { value: boolean },
): Promise<ExecutionResult> {
  const toFill = { ...order, ticker: c.rec.ticker };
  const broker = d.deps.broker;
  if (verdict.executor !== "broker" || !broker) {
    return simulateFill(sp, toFill, c.state, d.deps.settings, d.now);
  }
  await d.autonomously(() =>
    recordBrokerIntent(d.deps.db, {
      recommendationId: c.rec.id,
      clientOrderId: String(c.rec.id),
      instance: d.deps.instance,
      now: d.now,
      order: toFill,
      decisions: verdict.decisions,
    }),
  );
  sent.value = true;
  const placed = await placeOrFindOrder(broker, { ...toFill, clientOrderId: String(c.rec.id) });
  return recordBrokerFill(sp, toFill, placed.order, c.state, {
    now: d.now,
    startingCashUsd: d.deps.settings.startingCashUsd,
    recovered: false,
    placedNow: placed.placedNow,
  });
}

/**
 * Steps 4 and 5, execute and record: the execution and its EXECUTED record in one savepoint;
 * a failure is recorded FAILED (and counted toward the kill switch) in the outer transaction,
 * unless an order may exist at the broker.
 * @throws UnknownBrokerOutcomeError when the broker's answer does not say whether the order exists.
 */
async function executeAndRecord(
  tx: DatabaseTransactionConnection,
  d: Decision,
  c: Claimed,
  order: PlannedOrder,
  verdict: GateVerdict,
): Promise<Outcome> {
  const sent = { value: false };
  try {
    const result = await tx.transaction(async (sp) => {
      const executed = await execute(sp, d, c, order, verdict, sent);
      await recordExecuted(sp, c.rec, executed, verdict.decisions, d.now);
      await d.deps.beforeCommit?.(c.rec.id);
      return executed;
    });
    c.log.info(
      { executor: result.executor, quantity: result.quantity, price: result.price },
      "executed; next recommendation",
    );
    return { id: c.rec.id, status: "EXECUTED", executor: result.executor, recovered: false };
  } catch (error) {
    const message = describeCause(error);
    if (sent.value && !isDefinitiveRefusal(error)) {
      // The order may exist at the broker: FAILED would be a lie nobody reconciles. Abort the
      // whole transaction; the recommendation stays PENDING with its intent and the next claim
      // asks the broker. The error still counts towards the kill switch (dispatchOne, outside).
      c.log.error({ err: error }, "broker outcome unknown; leaving PENDING with its intent for recovery");
      throw new UnknownBrokerOutcomeError(c.rec.id, error);
    }
    d.trip = await countExecutionError(tx, d.deps, {
      threshold: d.params["kill-switch-error-threshold"],
      message,
      now: d.now,
      autonomously: d.autonomously,
    });
    await recordDecision(tx, c.rec.id, d.now, {
      status: "FAILED",
      error: message,
      decisions: verdict.decisions,
    });
    c.log.error({ err: error, trippedKillSwitch: d.trip !== null }, "execution failed");
    return { id: c.rec.id, status: "FAILED", error: message, trippedKillSwitch: d.trip !== null };
  }
}

/**
 * Decides one recommendation: claim, recover intent, gate, execute, record, all in one
 * transaction that holds the recommendation's row lock throughout. A dispatcher that dies
 * anywhere before COMMIT leaves the recommendation PENDING with nothing recorded (the server
 * aborts the transaction when the connection drops); the only effect that can outlive it is a
 * broker order, and that one is covered by the intent written before it was sent. Returns null
 * when nothing is claimable.
 * @throws on database failure (the recommendation stays PENDING and is retried).
 */
export async function dispatchOne(deps: DispatcherDeps, batchParams: Params): Promise<Outcome | null> {
  const d: Decision = {
    deps,
    now: deps.clock.now(),
    params: batchParams,
    autonomously: autonomousScope(),
    trip: null,
  };
  if (batchParams["dry-run"] === false && deps.broker !== null) {
    // Turning dry-run on must stop broker calls at once, not when the cache expires: a decision
    // that could reach the broker re-reads the parameters uncached. Broker orders are rare; the
    // extra read is nothing beside the HTTP call.
    d.params = await deps.freshParams.getAll();
  }
  let outcome: Outcome | null;
  try {
    outcome = await deps.db.transaction(async (tx): Promise<Outcome | null> => {
      const c = await claim(tx, d);
      if (!c) return null;
      const recovered = await recoverIntent(tx, d, c);
      if (recovered) return recovered;
      const { order, verdict } = await gate(tx, d, c);
      if (verdict.rejectedGate !== null) {
        await recordDecision(tx, c.rec.id, d.now, {
          status: "REJECTED",
          gate: verdict.rejectedGate,
          decisions: verdict.decisions,
        });
        c.log.info({ gate: verdict.rejectedGate }, "rejected");
        return { id: c.rec.id, status: "REJECTED", rejectedGate: verdict.rejectedGate };
      }
      return executeAndRecord(tx, d, c, order, verdict);
    });
  } catch (error) {
    if (error instanceof UnknownBrokerOutcomeError) {
      const counted = await deps.db.transaction(async (tx) => {
        await takeRiskLock(tx);
        return countExecutionError(tx, deps, {
          threshold: d.params["kill-switch-error-threshold"],
          message: describeCause(error),
          now: d.now,
          autonomously: d.autonomously,
        });
      });
      if (counted) deps.logger.error({ reason: counted.reason }, "kill switch tripped");
    }
    throw error;
  }
  if (d.trip) deps.logger.error({ reason: d.trip.reason }, "kill switch tripped");
  return outcome;
}
