import type { DatabaseTransactionConnection } from "../common/db.ts";
import type { Params } from "../common/params/definitions.ts";
import { applyBrokerWindow, BrokerWindowClosedError } from "./broker-window.ts";
import {
  type Claimed,
  claim,
  type Decision,
  type Gated,
  gate,
  recordFailure,
  recordRejection,
} from "./decision.ts";
import type { DispatcherDeps, Outcome } from "./deps.ts";
import { executeAtBroker, gateAndRecordIntent, recoverIntent } from "./dispatch-broker.ts";
import { simulateFill } from "./executors/dry-run.ts";
import { entryExits, recordEntryExits } from "./exits.ts";
import { autonomousScope, countExecutionError } from "./kill-switch.ts";
import { recordExecuted, takeRiskLock } from "./queries.ts";

/**
 * Steps 4 and 5 for the simulator: fill and record EXECUTED in one savepoint; a failure is
 * counted toward the kill switch and recorded FAILED in the outer transaction, which holds the
 * risk lock throughout (no broker call is made, so holding it costs nothing).
 */
async function executeSimulated(
  tx: DatabaseTransactionConnection,
  d: Decision,
  c: Claimed,
  g: Gated,
): Promise<Outcome> {
  try {
    const result = await tx.transaction(async (sp) => {
      const executed = await simulateFill(
        sp,
        { ...g.order, ticker: c.rec.ticker, clientOrderId: String(c.rec.id), recommendationId: c.rec.id },
        d.deps.settings,
        d.now,
        c.log,
      );
      if (c.rec.side === "BUY") {
        // Exits at entry (issue 15), from the fill's price: the dry-run sweep watches them (exits.ts).
        await recordEntryExits(sp, {
          account: "dry-run",
          ticker: c.rec.ticker,
          recommendationId: c.rec.id,
          entryPrice: executed.price,
          exits: entryExits(c.rec, d.params),
          now: d.now,
          quantity: executed.quantity,
        });
      }
      await recordExecuted(sp, c.rec, executed, g.verdict.decisions, d.now);
      await d.deps.beforeCommit?.(c.rec.id);
      return executed;
    });
    c.log.info(
      { executor: result.executor, quantity: result.quantity, price: result.price },
      "executed; next recommendation",
    );
    return { id: c.rec.id, status: "EXECUTED", executor: result.executor, recovered: false };
  } catch (error) {
    return recordFailure(tx, d, c, g, error, (count) => count(tx));
  }
}

/**
 * Decides one recommendation: claim, recover intent, gate, execute, record, in one transaction
 * that holds the recommendation's row lock throughout. A dispatcher that dies anywhere before
 * COMMIT leaves the recommendation PENDING with nothing recorded (the server aborts the
 * transaction when the connection drops); the only effect that can outlive it is a broker
 * order, and that one is covered by the intent committed before it was sent.
 *
 * The risk lock (queries.ts) is held while shared risk state is read and written, never across
 * a broker call: for the simulator the claiming transaction takes it (nothing slow happens in
 * it); for the broker the gate runs in a short transaction of its own that commits the intent,
 * and the fill is recorded under the lock once the broker has answered. Returns null when
 * nothing is claimable.
 * @throws on database failure (the recommendation stays PENDING and is retried).
 */
export async function dispatchOne(deps: DispatcherDeps, batchParams: Params): Promise<Outcome | null> {
  const d: Decision = {
    deps,
    now: deps.clock.now(),
    params: batchParams,
    autonomously: autonomousScope(),
    trip: null,
    countAfterRollback: null,
  };
  if (batchParams["dry-run"] === false && deps.broker !== null) {
    // Turning dry-run on must stop broker calls at once, not when the cache expires: a decision
    // that could reach the broker re-reads the parameters uncached. Broker orders are rare; the
    // extra read is nothing beside the HTTP call.
    d.params = await deps.freshParams.getAll();
  }
  // The bounded broker window (opsctl dry-run off --for): judged at this decision's now, so
  // neither the cache nor a revert not yet written can carry an order past the deadline.
  d.params = await applyBrokerWindow(deps, d.params, d.now, d.autonomously);
  try {
    return await deps.db.transaction(async (tx): Promise<Outcome | null> => {
      const c = await claim(tx, d);
      if (!c) return null;
      const recovered = await recoverIntent(tx, d, c);
      if (recovered) return recovered;
      const broker = deps.broker;
      if (c.account === "dry-run" || !broker) {
        await takeRiskLock(tx);
        const g = await gate(tx, d, c);
        if (g.verdict.rejectedGate !== null) return recordRejection(tx, d, c, g, g.verdict.rejectedGate);
        return executeSimulated(tx, d, c, g);
      }
      // Gate and intent in one short transaction under the risk lock, committed before the order leaves.
      const g = await gateAndRecordIntent(d, c);
      if (g.verdict.rejectedGate !== null) return recordRejection(tx, d, c, g, g.verdict.rejectedGate);
      return executeAtBroker(tx, d, c, g, broker);
    });
  } catch (error) {
    // The deadline passed mid-decision, before any broker call: decided again, with dry-run in effect.
    if (error instanceof BrokerWindowClosedError) return dispatchOne(deps, batchParams);
    if (d.countAfterRollback !== null) {
      // A broker order was placed and its fill could not be recorded: the transaction that held
      // the risk lock is gone, so the error is counted in one of its own, under the lock.
      const message = d.countAfterRollback;
      d.trip = await deps.db.transaction(async (own) => {
        await takeRiskLock(own);
        return countExecutionError(own, deps, {
          threshold: d.params["kill-switch-error-threshold"],
          message,
          now: d.now,
          autonomously: d.autonomously,
        });
      });
    }
    throw error;
  } finally {
    if (d.trip) deps.logger.error({ reason: d.trip.reason }, "kill switch tripped");
  }
}
