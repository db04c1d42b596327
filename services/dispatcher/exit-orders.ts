import type { CommonQueryMethods } from "../common/db.ts";
import { withDryRunWindow } from "../common/dry-run-window.ts";
import { describeCause } from "../common/errors.ts";
import { exchangeTime } from "../common/market-calendar.ts";
import type { Params } from "../common/params/definitions.ts";
import { assertBrokerWindowOpen, BrokerWindowClosedError } from "./broker-window.ts";
import { heldPosition, latestCandle, riskFacts } from "./decision.ts";
import type { DispatcherDeps } from "./deps.ts";
import { placeOrFindOrder } from "./executors/broker.ts";
import { simulateFill } from "./executors/dry-run.ts";
import { type BrokerOrder, isDefinitiveRefusal } from "./executors/types.ts";
import { type ClaimedExit, claimExit, recordExitDecision } from "./exit-queries.ts";
import { sweepExits } from "./exit-sweep.ts";
import { cancelOpenLegs, LegNotCancelableError } from "./exits.ts";
import { registerOrder } from "./fill-queries.ts";
import { applyOrderUpdate, updateFromRestOrder } from "./fills.ts";
import { evaluateExitGates, type GateFacts, type GateVerdict, type PlannedOrder } from "./gates.ts";
import { autonomousScope } from "./kill-switch.ts";
import type { Account } from "./portfolio.ts";
import { readDecisionFacts, selectRecentCloses, takeRiskLock } from "./queries.ts";

/** Exit orders: deciding dispatch_exits rows (exits.ts has the overview). */

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
  const position = heldPosition(f);
  const candle = latestCandle(f);
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
    // An exit only sells: the loss limits and the portfolio cap let it through (it trips nothing
    // here; the next entry's decision sees the realised loss and trips then).
    risk: riskFacts(f, exit.account, deps.settings.startingCashUsd),
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
export async function dispatchExitOne(
  deps: DispatcherDeps,
  batchParams: Params,
): Promise<ExitOutcome | null> {
  const now = deps.clock.now();
  // As for recommendations (dispatch-one.ts): an exit that could reach the broker re-reads the
  // parameters uncached, and the broker window (dry-run-until) is judged at the exit's own now.
  const fresh =
    batchParams["dry-run"] === false && deps.broker !== null ? await deps.freshParams.getAll() : batchParams;
  const params = withDryRunWindow(fresh, now);
  const broker = params["dry-run"] === false ? deps.broker : null;
  const account: Account = broker ? "alpaca-paper" : "dry-run";
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
    // The window may have ended since `now`: no broker call after it (the exit stays PENDING).
    assertBrokerWindowOpen(deps, params);
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
  // The account the dispatcher trades now: dry-run also once a broker window has ended.
  const effective = withDryRunWindow(params, deps.clock.now());
  const account: Account = effective["dry-run"] === false && deps.broker ? "alpaca-paper" : "dry-run";
  await sweepExits(deps, account);
  const outcomes: ExitOutcome[] = [];
  while (outcomes.length < limit) {
    let outcome: ExitOutcome | null;
    try {
      outcome = await dispatchExitOne(deps, params);
    } catch (error) {
      // The exit stays PENDING (its transaction rolled back) and is decided on the next pass;
      // the recommendations of this batch still get theirs.
      if (!(error instanceof LegNotCancelableError || error instanceof BrokerWindowClosedError)) throw error;
      deps.logger.warn({ err: error }, "exit order left PENDING for the next pass");
      break;
    }
    if (!outcome) break;
    outcomes.push(outcome);
  }
  return outcomes;
}
