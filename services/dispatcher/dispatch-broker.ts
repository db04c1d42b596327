import type { CommonQueryMethods, DatabaseTransactionConnection } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import { exitLevels } from "../common/exits.ts";
import { assertBrokerWindowOpen } from "./broker-window.ts";
import {
  brokerActive,
  type Claimed,
  type Decision,
  type Gated,
  gate,
  plannedOrder,
  recordFailure,
} from "./decision.ts";
import { type Outcome, UnknownBrokerOutcomeError } from "./deps.ts";
import { placeOrFindOrder, recordBrokerFill } from "./executors/broker.ts";
import {
  type Broker,
  type BrokerOrder,
  type ExecutionResult,
  isDefinitiveRefusal,
} from "./executors/types.ts";
import { bracketFor, cancelOpenLegs, entryExits, LegNotCancelableError, recordEntryExits } from "./exits.ts";
import type { GateDecision, PlannedOrder } from "./gates.ts";
import { readBrokerIntent, recordBrokerIntent, recordExecuted, takeRiskLock } from "./queries.ts";
import { recordShadowFill } from "./shadow.ts";

/**
 * The broker's steps of a decision. The risk lock is never held across a broker call: the gate
 * runs in a short transaction of its own that commits the write-ahead intent (which stands for
 * the order in every other dispatcher's gates until the fill is recorded: queries.ts,
 * readDecisionFacts), the order is sent holding only the recommendation's row lock, and the
 * fill is recorded under the risk lock once the broker has answered.
 */

/** Records a fill from the broker under the risk lock, on the position as it stands now. */
async function recordBrokerExecution(
  tx: CommonQueryMethods,
  d: Decision,
  c: Claimed,
  order: PlannedOrder & { ticker: string },
  placed: { order: BrokerOrder; placedNow: boolean; recovered: boolean },
  decisions: readonly GateDecision[],
): Promise<ExecutionResult> {
  await takeRiskLock(tx);
  const exits = order.side === "BUY" ? entryExits(c.rec, d.params) : null;
  const result = await recordBrokerFill(tx, order, placed.order, {
    now: d.now,
    startingCashUsd: d.deps.settings.startingCashUsd,
    recovered: placed.recovered,
    placedNow: placed.placedNow,
    recommendationId: c.rec.id,
    logger: c.log,
  });
  if (exits) {
    // Exits at entry (issue 15), at the levels the bracket was sent with (the reference price);
    // its legs become orders the stream follows. Without legs the dispatcher sweeps them itself.
    await recordEntryExits(tx, {
      account: "alpaca-paper",
      ticker: order.ticker,
      recommendationId: c.rec.id,
      entryPrice: order.referencePrice,
      exits,
      now: d.now,
      brokerOrder: placed.order,
      quantity: order.quantity,
    });
  }
  await recordExecuted(tx, c.rec, result, decisions, d.now);
  // The shadow portfolio (issue 15): the same order simulated, never sent, in its own account.
  await recordShadowFill(
    tx,
    { ...order, clientOrderId: String(c.rec.id), recommendationId: c.rec.id },
    {
      settings: d.deps.settings,
      now: d.now,
      logger: c.log,
    },
  );
  await d.deps.beforeCommit?.(c.rec.id);
  return result;
}

/**
 * Step 2, recover intent: a broker order may already exist for this recommendation (an earlier
 * attempt wrote its intent and died). Ask the broker (no lock held) before deciding anything;
 * an order it has is recorded as this recommendation's execution. Null when there is nothing
 * to recover.
 */
export async function recoverIntent(
  tx: CommonQueryMethods,
  d: Decision,
  c: Claimed,
): Promise<Outcome | null> {
  const broker = d.deps.broker;
  if (!brokerActive(d) || !broker) return null;
  const intent = await readBrokerIntent(tx, c.rec.id);
  if (!intent) return null;
  assertBrokerWindowOpen(d.deps, d.params);
  const existing = await broker.getOrderByClientOrderId(String(c.rec.id));
  if (!existing) {
    c.log.info("broker has no order for an earlier intent: the order never left; deciding afresh");
    return null;
  }
  const order = plannedOrder.parse(intent.order_request);
  const placed = { order: existing, placedNow: false, recovered: true };
  await recordBrokerExecution(tx, d, c, order, placed, intent.gate_decisions as GateDecision[]);
  c.log.warn({ brokerOrderId: existing.id }, "recovered a broker order placed before a crash");
  return { id: c.rec.id, status: "EXECUTED", executor: "alpaca-paper", recovered: true };
}

/**
 * Steps 4 and 5 at the broker. The intent was committed with the gate's decision; the order is
 * sent holding only this recommendation's row lock (never the risk lock, so broker latency does
 * not serialise the dispatchers: the in-flight intent stands for the order in every other
 * dispatcher's gates meanwhile), and the fill is recorded under the risk lock afterwards.
 * @throws UnknownBrokerOutcomeError when the broker's answer does not say whether the order exists.
 */
export async function executeAtBroker(
  tx: DatabaseTransactionConnection,
  d: Decision,
  c: Claimed,
  g: Gated,
  broker: Broker,
): Promise<Outcome> {
  const toFill = { ...g.order, ticker: c.rec.ticker };
  // The error counts in a transaction of its own, under the risk lock, before anything else
  // decides: the trip happens at exactly the threshold however many dispatchers are failing.
  const countAutonomously = (count: (conn: CommonQueryMethods) => Promise<{ reason: string } | null>) =>
    d.autonomously(() =>
      d.deps.db.transaction(async (own) => {
        await takeRiskLock(own);
        return count(own);
      }),
    );
  let placed: { order: BrokerOrder; placedNow: boolean };
  // The intent stays (the next broker window's recovery asks the broker, which has no order).
  assertBrokerWindowOpen(d.deps, d.params);
  try {
    // Exits (issue 15): a BUY goes as a bracket when its exits allow one; a SELL first cancels
    // the position's bracket legs (the broker holds the shares for them).
    let bracket: ReturnType<typeof bracketFor>;
    if (toFill.side === "BUY") {
      const exits = entryExits(c.rec, d.params);
      bracket = bracketFor(exitLevels(exits, toFill.referencePrice, d.now.getTime()), toFill.quantity);
    } else {
      await cancelOpenLegs(tx, broker, { account: c.account, ticker: toFill.ticker }, c.log);
    }
    placed = await placeOrFindOrder(broker, { ...toFill, clientOrderId: String(c.rec.id), bracket });
  } catch (error) {
    if (error instanceof LegNotCancelableError) {
      // Nothing was sent for this SELL: roll back (the intent stays, and recovery finds no order
      // at the broker), count nothing, decide again once the leg's fill is recorded.
      c.log.warn({ legs: error.legs }, error.message);
      throw error;
    }
    if (!isDefinitiveRefusal(error)) {
      // The order may exist at the broker: FAILED would be a lie nobody reconciles. The error
      // counts; the transaction aborts; the recommendation stays PENDING with its intent and
      // the next claim asks the broker.
      await recordFailure(tx, d, c, g, error, countAutonomously, { leavePending: true });
      throw new UnknownBrokerOutcomeError(c.rec.id, error);
    }
    return recordFailure(tx, d, c, g, error, countAutonomously);
  }
  let result: ExecutionResult;
  try {
    result = await recordBrokerExecution(
      tx,
      d,
      c,
      toFill,
      { ...placed, recovered: false },
      g.verdict.decisions,
    );
  } catch (error) {
    // The order exists; its fill is not recorded. The transaction (holding the risk lock) rolls
    // back, the recommendation stays PENDING with its intent, and recovery records the fill.
    d.countAfterRollback = describeCause(error);
    throw new UnknownBrokerOutcomeError(c.rec.id, error);
  }
  c.log.info(
    { executor: result.executor, quantity: result.quantity, price: result.price },
    "executed; next recommendation",
  );
  return { id: c.rec.id, status: "EXECUTED", executor: "alpaca-paper", recovered: false };
}

/**
 * Step 3 at the broker: gate under the risk lock and, when every gate passes, commit the
 * write-ahead intent, in one short transaction of its own (outside the claiming one), so the
 * lock is released before the order leaves.
 */
export async function gateAndRecordIntent(d: Decision, c: Claimed): Promise<Gated> {
  return d.autonomously(() =>
    d.deps.db.transaction(async (own) => {
      await takeRiskLock(own);
      const gated = await gate(own, d, c);
      if (gated.verdict.rejectedGate === null) {
        // No intent, so no order, once the broker window has ended (the decision is taken again).
        assertBrokerWindowOpen(d.deps, d.params);
        await recordBrokerIntent(own, {
          recommendationId: c.rec.id,
          clientOrderId: String(c.rec.id),
          instance: d.deps.instance,
          now: d.now,
          order: { ...gated.order, ticker: c.rec.ticker },
          decisions: gated.verdict.decisions,
        });
      }
      return gated;
    }),
  );
}
