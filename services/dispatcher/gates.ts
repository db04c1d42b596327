import { nyseSession } from "../common/market-calendar.ts";
import type { Params } from "../common/params/definitions.ts";
import { evaluateOrderGates } from "./order-gates.ts";
import { effectiveTradingState, evaluateRiskGates, type NewTrip, type RiskFacts } from "./risk-gates.ts";

// The loss limits and trading states (risk-gates.ts) and the order's own gates (order-gates.ts)
// are re-exported here: gates.ts is the one entry point for the dispatcher's gates.
export { evaluateOrderGates } from "./order-gates.ts";
export {
  effectiveTradingState,
  type NewTrip,
  type OpenTrip,
  type RiskFacts,
  TRIP_KINDS,
  type TradingState,
  type TripKind,
} from "./risk-gates.ts";

/** The gates, in the order they run; `rejected_gate` names the first that rejects. */
export const GATE_ORDER = [
  "dry-run",
  "kill-switch",
  "trading-state",
  "approval",
  "max-trades-per-day",
  "max-notional-per-trade",
  "max-position-notional",
  "max-portfolio-notional",
  "daily-loss-limit",
  "max-drawdown",
  "holding",
  "order-quantity",
  "min-price",
  "reference-band",
  "sane-notional",
  "stale-data",
  "market-hours",
] as const;
export type GateName = (typeof GATE_ORDER)[number];

export interface GateDecision {
  gate: GateName;
  passed: boolean;
  /** Why it rejected, in words; absent when it passed. */
  reason?: string;
  /** Every value the gate looked at, so the decision explains itself (invariant 6). */
  values: Record<string, unknown>;
}

export interface PlannedOrder {
  side: "BUY" | "SELL";
  quantity: number;
  /** The price the order was sized at: the newest candle's close (the recommendation's close without one). */
  referencePrice: number;
  /** quantity × referencePrice. */
  notional: number;
}

/** Everything the gates see, gathered in the claiming transaction; the gates themselves are pure. */
export interface GateFacts {
  now: Date;
  params: Params;
  brokerConfigured: boolean;
  recommendation: { id: number; ticker: string; side: "BUY" | "SELL"; asOfMs: number };
  /** The shared error streak behind the self-tripping kill switch. */
  errorStreak: { consecutiveErrors: number; trippedAtMs: number | null };
  exchangeDate: string;
  /** Executions already recorded on this exchange-local day. */
  tradesToday: number;
  position: { quantity: number; avgCost: number } | null;
  /** Current value of the held position at the reference price (0 when flat). */
  heldNotional: number;
  latestCandle: { tsMs: number; close: number; intervalSec: number } | null;
  /** The last `reference-closes` trusted closes of the ticker (lane_telemetry), newest first. */
  recentCloses: readonly number[];
  order: PlannedOrder;
  /**
   * Reconciliation differences (broker vs database) neither resolved nor accepted: while any is
   * open, trading is reducing (an exit passes, an entry is refused). Absent: none.
   */
  openDifferences?: number;
  /**
   * An operator's decision on this recommendation (`opsctl recs approve|reject`), read in the
   * claim; the approval gate needs an approval while the require-approval parameter is on.
   * Absent: none recorded.
   */
  approval?: {
    decision: "approved" | "rejected" | null;
    by: string | null;
    atMs: number | null;
    reason: string | null;
  };
  /** The account's P&L, equity and exposure (issue 15: loss limits and the portfolio cap). */
  risk: RiskFacts;
}

export interface GateVerdict {
  /** The first rejecting gate in GATE_ORDER, or null when every gate passed. */
  rejectedGate: GateName | null;
  decisions: GateDecision[];
  executor: "dry-run" | "broker";
  /** Loss limits breached with no open trip of their kind: recorded by the dispatcher (trips.ts). */
  trips: NewTrip[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * Runs every gate and records each decision (all of them, not only up to the first rejection,
 * so a rejected recommendation shows every reason it would have failed). Boundaries are
 * inclusive on the allowed side: a limit equal to the value passes, one unit past it rejects.
 */
export function evaluateGates(facts: GateFacts): GateVerdict {
  const { params, now, recommendation: rec, order } = facts;
  const decisions: GateDecision[] = [];
  const decide = (gate: GateName, passed: boolean, values: Record<string, unknown>, reason: string) =>
    decisions.push(passed ? { gate, passed, values } : { gate, passed, reason, values });

  const dryRun = params["dry-run"];
  decide(
    "dry-run",
    dryRun || facts.brokerConfigured,
    { dryRun, brokerConfigured: facts.brokerConfigured, executor: dryRun ? "dry-run" : "broker" },
    "dry-run is off but no broker is configured: nothing may execute",
  );

  const kill = params["kill-switch"];
  const threshold = params["kill-switch-error-threshold"];
  const streakTripped =
    facts.errorStreak.trippedAtMs !== null || facts.errorStreak.consecutiveErrors >= threshold;
  decide(
    "kill-switch",
    !kill.engaged && !streakTripped,
    {
      engaged: kill.engaged,
      reason: kill.reason,
      at: kill.at,
      by: kill.by,
      consecutiveErrors: facts.errorStreak.consecutiveErrors,
      errorThreshold: threshold,
      trippedAt: iso(facts.errorStreak.trippedAtMs),
    },
    kill.engaged
      ? `kill switch engaged${kill.reason ? `: ${kill.reason}` : ""}`
      : "kill switch tripped by consecutive execution errors",
  );

  // Trading state (issue 15): the operator's parameter, made at least "reducing" while the broker
  // and the database disagree (reconcile.ts). Reducing lets only orders that shrink a position
  // through (a SELL: the pipeline is long only); halted lets nothing through.
  // Open loss-limit trips (issue 15) force reducing the same way, until an operator acknowledges.
  const openDifferences = facts.openDifferences ?? 0;
  const parameter = params["trading-state"];
  const openTrips = facts.risk.openTrips;
  const { state: tradingState, reasons: stateReasons } = effectiveTradingState({
    parameter,
    openDifferences,
    openTrips,
  });
  decide(
    "trading-state",
    tradingState === "active" || (tradingState === "reducing" && order.side === "SELL"),
    {
      state: tradingState,
      parameter,
      side: order.side,
      openDifferences,
      openTrips: openTrips.map((trip) => ({ id: trip.id, kind: trip.kind, trippedAt: trip.trippedAt })),
    },
    tradingState === "halted"
      ? "trading is halted: nothing passes"
      : `trading is reducing (${stateReasons.join("; ")}): an entry is refused, exits pass`,
  );

  // Human in the loop (issue 15): with require-approval on, only an operator's approval lets a
  // recommendation through. The claim leaves an unapproved one PENDING until it is older than
  // the stale-data limit; then it is claimed and rejected here, saying why.
  const approvalRequired = params["require-approval"];
  const approval = facts.approval ?? { decision: null, by: null, atMs: null, reason: null };
  const approvalAgeSeconds = (now.getTime() - rec.asOfMs) / 1000;
  decide(
    "approval",
    !approvalRequired || approval.decision === "approved",
    {
      required: approvalRequired,
      decision: approval.decision,
      by: approval.by,
      at: iso(approval.atMs),
      reason: approval.reason,
      recommendationAgeSeconds: approvalAgeSeconds,
      maxRecommendationAgeSeconds: params["max-recommendation-age-seconds"],
    },
    approval.decision === "rejected"
      ? `rejected by ${approval.by}${approval.reason ? `: ${approval.reason}` : ""}`
      : `not approved within max-recommendation-age-seconds (${params["max-recommendation-age-seconds"]}s): ${approvalAgeSeconds}s since as_of and nobody ran \`opsctl recs approve ${rec.id}\``,
  );

  const maxTrades = params["max-trades-per-day"];
  decide(
    "max-trades-per-day",
    facts.tradesToday < maxTrades,
    { tradesToday: facts.tradesToday, maxTradesPerDay: maxTrades, exchangeDate: facts.exchangeDate },
    `${facts.tradesToday} trades already on ${facts.exchangeDate}, limit ${maxTrades}`,
  );

  // Size limits bound new risk; an exit (SELL of a held position) only reduces it and is never
  // held back by them.
  const maxPerTrade = params["max-notional-per-trade"];
  decide(
    "max-notional-per-trade",
    order.side === "SELL" || order.notional <= maxPerTrade,
    { side: order.side, orderNotional: order.notional, maxNotionalPerTrade: maxPerTrade },
    `order notional ${order.notional.toFixed(2)} exceeds ${maxPerTrade}`,
  );

  const maxPosition = params["max-position-notional"];
  const after = order.side === "BUY" ? facts.heldNotional + order.notional : facts.heldNotional;
  decide(
    "max-position-notional",
    order.side === "SELL" || after <= maxPosition,
    {
      side: order.side,
      heldNotional: facts.heldNotional,
      orderNotional: order.notional,
      positionNotionalAfter: after,
      maxPositionNotional: maxPosition,
    },
    `position would be ${after.toFixed(2)}, limit ${maxPosition}`,
  );

  const trips = evaluateRiskGates(facts, decide);

  const held = facts.position !== null && facts.position.quantity > 0;
  decide(
    "holding",
    order.side === "BUY" ? !held : held && order.quantity > 0,
    { side: order.side, held, heldQuantity: facts.position?.quantity ?? 0 },
    order.side === "BUY"
      ? `${rec.ticker} is already held: no second entry`
      : `${rec.ticker} is not held: exits only, no short selling`,
  );

  decisions.push(...evaluateOrderGates(order, facts.recentCloses, params));

  const maxRecAge = params["max-recommendation-age-seconds"];
  const maxCandleAge = params["max-candle-age-seconds"];
  const recAgeSeconds = (now.getTime() - rec.asOfMs) / 1000;
  // A 5-minute candle stamped 10:00 describes 10:00–10:05: its age runs from its close.
  const candleEndMs = facts.latestCandle
    ? facts.latestCandle.tsMs + facts.latestCandle.intervalSec * 1000
    : null;
  const candleAgeSeconds = candleEndMs === null ? null : (now.getTime() - candleEndMs) / 1000;
  const recFresh = recAgeSeconds <= maxRecAge;
  const candleFresh = candleAgeSeconds !== null && candleAgeSeconds <= maxCandleAge;
  decide(
    "stale-data",
    recFresh && candleFresh,
    {
      recommendationAsOf: iso(rec.asOfMs),
      recommendationAgeSeconds: recAgeSeconds,
      maxRecommendationAgeSeconds: maxRecAge,
      newestCandleEnd: iso(candleEndMs),
      candleAgeSeconds,
      maxCandleAgeSeconds: maxCandleAge,
    },
    !recFresh
      ? `recommendation is ${recAgeSeconds}s old, limit ${maxRecAge}s`
      : candleAgeSeconds === null
        ? `no candle for ${rec.ticker}`
        : `newest candle closed ${candleAgeSeconds}s ago, limit ${maxCandleAge}s`,
  );

  const session = nyseSession(now);
  decide("market-hours", session.open, { ...session }, `NYSE closed: ${session.reason}`);

  const rejected = GATE_ORDER.find((gate) => decisions.some((d) => d.gate === gate && !d.passed)) ?? null;
  return { rejectedGate: rejected, decisions, executor: dryRun ? "dry-run" : "broker", trips };
}

// Exits (issue 15) ------------------------------------------------------------------------------

/**
 * Gates an exit order never answers to: selling a held position adds no trade risk to count, and
 * an exit is no recommendation to approve (a stop-loss must not wait for a person; an operator's
 * close is itself the operator's decision).
 */
export const EXIT_WAIVED_GATES: readonly GateName[] = ["max-trades-per-day", "approval"];

/**
 * The gates for an exit order (a triggered stop-loss / take-profit, a maximum holding time, an
 * operator's close): the same gates as a SELL, so the kill switch and halted refuse it and
 * reducing lets it through, and holding, order-quantity, reference-band, stale candles and
 * market hours apply; the daily trade count does not (an exit must not be trapped by it).
 * `facts.recommendation` describes the exit (side SELL, asOfMs: when it was requested).
 */
export function evaluateExitGates(facts: GateFacts): GateVerdict {
  const verdict = evaluateGates(facts);
  const decisions = verdict.decisions.map(
    (d): GateDecision =>
      EXIT_WAIVED_GATES.includes(d.gate) && !d.passed
        ? { gate: d.gate, passed: true, values: { ...d.values, waivedForExit: true } }
        : d,
  );
  const rejected = GATE_ORDER.find((gate) => decisions.some((d) => d.gate === gate && !d.passed)) ?? null;
  return { ...verdict, rejectedGate: rejected, decisions };
}
