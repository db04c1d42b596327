import * as z from "zod";
import type { CommonQueryMethods } from "../common/db.ts";
import { withDryRunWindow } from "../common/dry-run-window.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { exchangeTime } from "../common/market-calendar.ts";
import type { Params } from "../common/params/definitions.ts";
import { type DispatcherDeps, type Outcome, sharesFor } from "./deps.ts";
import { entryExits, entryShares } from "./exits.ts";
import {
  evaluateGates,
  type GateFacts,
  type GateVerdict,
  type PlannedOrder,
  type RiskFacts,
} from "./gates.ts";
import { type Autonomously, countExecutionError, resetIfOperatorDisengaged } from "./kill-switch.ts";
import type { Account, AccountState } from "./portfolio.ts";
import {
  type ClaimedRecommendation,
  claimRecommendation,
  type DecisionFactsRow,
  raisePeakEquity,
  readDecisionFacts,
  recordDecision,
  recordTrips,
  selectRecentCloses,
} from "./queries.ts";

/**
 * The steps every decision shares (dispatch-one.ts runs them): claim, gate, and recording a
 * rejection or a failure. The broker's steps are in dispatch-broker.ts.
 */

export const plannedOrder = z.object({
  side: z.enum(["BUY", "SELL"]),
  quantity: z.number().positive(),
  referencePrice: z.number().positive(),
  notional: z.number(),
  ticker: z.string(),
});

/** One decision in progress: what every step reads and the little state they share. */
export interface Decision {
  readonly deps: DispatcherDeps;
  readonly now: Date;
  /** The parameters the decision uses; replaced by a fresh read when the kill switch is tripped. */
  params: Params;
  readonly autonomously: Autonomously;
  /** Set when an error this decision counted tripped the kill switch. */
  trip: { reason: string } | null;
  /** An error to count once the claiming transaction has rolled back (it held the risk lock). */
  countAfterRollback: string | null;
}

export const brokerActive = (d: Decision) => d.params["dry-run"] === false && d.deps.broker !== null;

export interface Claimed {
  rec: ClaimedRecommendation;
  log: Logger;
  account: Account;
}

/** What the gate step decided, with the order it sized and the account state it read. */
export interface Gated {
  order: PlannedOrder;
  verdict: GateVerdict;
  state: AccountState;
}

/** Step 1, claim: the oldest claimable PENDING recommendation (its row lock is held to COMMIT). */
export async function claim(tx: CommonQueryMethods, d: Decision): Promise<Claimed | null> {
  const rec = await claimRecommendation(tx, {
    instance: d.deps.instance,
    now: d.now,
    brokerActive: brokerActive(d),
    approval: {
      required: d.params["require-approval"],
      staleBefore: new Date(d.now.getTime() - d.params["max-recommendation-age-seconds"] * 1000),
    },
  });
  if (!rec) return null;
  const log = d.deps.logger.child({ recommendationId: rec.id, ticker: rec.ticker, side: rec.side });
  return { rec, log, account: brokerActive(d) ? "alpaca-paper" : "dry-run" };
}

/**
 * Step 3, gate (the caller holds the risk lock on `conn`): reads the facts, sizes the order at
 * the newest close and runs every gate (gates.ts), then raises the account's peak equity and
 * records any loss-limit trip on `conn`. A tripped streak is first checked against a fresh read
 * of the parameter (an operator's reset).
 * @throws Error when the fresh parameters flipped dry-run under us (the next pass decides it).
 */
export async function gate(conn: CommonQueryMethods, d: Decision, c: Claimed): Promise<Gated> {
  const exchangeDate = exchangeTime(d.now).date;
  const f = await readDecisionFacts(conn, {
    account: c.account,
    ticker: c.rec.ticker,
    now: d.now,
    exchangeDate,
    recommendationId: c.rec.id,
  });
  const reset = await resetIfOperatorDisengaged(
    conn,
    { ...d.deps, logger: c.log },
    {
      streak: { consecutiveErrors: f.consecutive_errors, trippedAtMs: f.tripped_at },
      params: d.params,
      autonomously: d.autonomously,
    },
  );
  d.params = withDryRunWindow(reset.params, d.now);
  if (brokerActive(d) !== (c.account === "alpaca-paper")) {
    throw new Error("dry-run changed while deciding; retrying");
  }
  const position = heldPosition(f);
  const candle = latestCandle(f);
  const referencePrice = candle?.close ?? c.rec.close;
  let quantity =
    c.rec.side === "BUY"
      ? sharesFor(d.deps.settings.orderNotionalUsd, referencePrice)
      : (position?.quantity ?? 0);
  if (c.rec.side === "BUY" && c.account === "alpaca-paper") {
    // A bracket needs whole shares (exits.ts entryShares).
    quantity = entryShares(entryExits(c.rec, d.params), quantity);
  }
  const order: PlannedOrder = {
    side: c.rec.side,
    quantity,
    referencePrice,
    notional: quantity * referencePrice,
  };
  // Order gates (issue 17): the trusted closes the reference price and notional are checked against.
  const recentCloses = await selectRecentCloses(conn, {
    ticker: c.rec.ticker,
    now: d.now,
    count: d.params["reference-closes"],
  });
  const facts: GateFacts = {
    now: d.now,
    params: d.params,
    brokerConfigured: d.deps.broker !== null,
    recommendation: { id: c.rec.id, ticker: c.rec.ticker, side: c.rec.side, asOfMs: c.rec.as_of },
    errorStreak: reset.streak,
    exchangeDate,
    tradesToday: f.trades_today,
    position,
    heldNotional: position ? position.quantity * referencePrice : 0,
    latestCandle: candle,
    recentCloses,
    order,
    openDifferences: f.open_differences,
    approval: {
      decision: c.rec.approval,
      by: c.rec.approval_by,
      atMs: c.rec.approval_at,
      reason: c.rec.approval_reason,
    },
    risk: riskFacts(f, c.account, d.deps.settings.startingCashUsd),
  };
  const verdict = evaluateGates(facts);
  // Loss limits (issue 15): the peak moves with the equity seen, and a breach trips, in this
  // transaction under the risk lock, whatever becomes of the recommendation. The UPDATE is sent
  // only when the equity is a new high of an existing account: most decisions need no write.
  if (f.starting_cash !== null && facts.risk.equityUsd > facts.risk.peakEquityUsd) {
    await raisePeakEquity(conn, { account: c.account, equity: facts.risk.equityUsd, now: d.now });
  }
  if (verdict.trips.length > 0) {
    const ids = await recordTrips(conn, {
      account: c.account,
      trips: verdict.trips,
      recommendationId: c.rec.id,
      by: `dispatcher:${d.deps.instance}`,
      now: d.now,
    });
    for (const trip of verdict.trips) {
      c.log.error(
        { trip: trip.kind, tripIds: ids, values: trip.values },
        `${trip.reason}: trading is reducing until an operator runs opsctl trading active`,
      );
    }
  }
  return { order, verdict, state: { cash: f.cash, held: position } };
}

/** The held position in the facts row, or null when flat. */
export function heldPosition(f: DecisionFactsRow): GateFacts["position"] {
  return f.held_quantity !== null && f.held_avg_cost !== null
    ? { quantity: f.held_quantity, avgCost: f.held_avg_cost }
    : null;
}

/** The ticker's newest trusted candle in the facts row, or null without one. */
export function latestCandle(f: DecisionFactsRow): GateFacts["latestCandle"] {
  return f.candle_ts !== null && f.candle_close !== null && f.candle_interval_sec !== null
    ? { tsMs: f.candle_ts, close: f.candle_close, intervalSec: f.candle_interval_sec }
    : null;
}

/** The gates' view of the account's P&L, equity and exposure from the facts row. */
export function riskFacts(f: DecisionFactsRow, account: Account, startingCashUsd: number): RiskFacts {
  const startingCash = f.starting_cash ?? startingCashUsd;
  return {
    account,
    realisedTodayUsd: f.realised_today,
    unrealisedUsd: f.unrealised,
    equityUsd: (f.cash ?? startingCash) + f.market_value,
    peakEquityUsd: f.peak_equity ?? startingCash,
    portfolioNotionalUsd: f.market_value + f.in_flight_notional + f.open_orders_notional,
    openTrips: f.open_trips.map((trip) => ({
      id: trip.id,
      kind: trip.kind,
      trippedAt: new Date(trip.tripped_at).toISOString(),
    })),
  };
}

/** Counts an execution error toward the kill switch and records the recommendation FAILED. */
export async function recordFailure(
  tx: CommonQueryMethods,
  d: Decision,
  c: Claimed,
  g: Gated,
  error: unknown,
  counting: (
    count: (conn: CommonQueryMethods) => Promise<{ reason: string } | null>,
  ) => Promise<{ reason: string } | null>,
  options: { leavePending?: boolean } = {},
): Promise<Outcome> {
  const message = describeCause(error);
  d.trip = await counting((conn) =>
    countExecutionError(conn, d.deps, {
      threshold: d.params["kill-switch-error-threshold"],
      message,
      now: d.now,
      autonomously: d.autonomously,
    }),
  );
  if (options.leavePending) {
    c.log.error({ err: error }, "broker outcome unknown; leaving PENDING with its intent for recovery");
  } else {
    await recordDecision(tx, c.rec.id, d.now, {
      status: "FAILED",
      error: message,
      decisions: g.verdict.decisions,
    });
    c.log.error({ err: error, trippedKillSwitch: d.trip !== null }, "execution failed");
  }
  return { id: c.rec.id, status: "FAILED", error: message, trippedKillSwitch: d.trip !== null };
}

/** Records the first rejecting gate (caller's transaction). */
export async function recordRejection(
  tx: CommonQueryMethods,
  d: Decision,
  c: Claimed,
  g: Gated,
  rejectedGate: string,
): Promise<Outcome> {
  await recordDecision(tx, c.rec.id, d.now, {
    status: "REJECTED",
    gate: rejectedGate,
    decisions: g.verdict.decisions,
  });
  c.log.info({ gate: rejectedGate }, "rejected");
  return { id: c.rec.id, status: "REJECTED", rejectedGate };
}
