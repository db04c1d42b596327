import { nyseSession } from "../common/market-calendar.ts";
import type { Params } from "../common/params/definitions.ts";

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

/** The loss limits that trip trading to reducing (dispatch_trading_trips.kind). */
export const TRIP_KINDS = ["daily-loss-limit", "max-drawdown"] as const;
export type TripKind = (typeof TRIP_KINDS)[number];

/** A trip an operator has not acknowledged yet (dispatch_trading_trips). */
export interface OpenTrip {
  id: number;
  kind: TripKind;
  trippedAt: string;
}

/**
 * The account's risk picture, read under the risk lock (queries.ts readDecisionFacts). Money is
 * USD. Unrealised P&L marks each position at its newest trusted close at or before `now` (at
 * cost without one).
 */
export interface RiskFacts {
  account: string;
  /** Realised P&L (fees included) of the fills on `exchangeDate`. */
  realisedTodayUsd: number;
  /** The open positions' unrealised P&L. */
  unrealisedUsd: number;
  /** Cash + positions at the newest close (= starting cash + realised + unrealised). */
  equityUsd: number;
  /** The highest equity recorded at an earlier decision (the starting cash before any). */
  peakEquityUsd: number;
  /**
   * Notional across every ticker, this one included: positions, orders in flight and open
   * orders' unfilled remainder, at the newest close (BUYs add, SELLs remove).
   */
  portfolioNotionalUsd: number;
  /** Loss-limit trips of this account not yet acknowledged: trading is reducing while any is. */
  openTrips: readonly OpenTrip[];
}

/** A loss limit this decision found breached with no open trip of its kind: the dispatcher records it. */
export interface NewTrip {
  kind: TripKind;
  reason: string;
  values: Record<string, unknown>;
}

export type TradingState = "active" | "reducing" | "halted";

/**
 * The trading state in effect and why: the `trading-state` parameter, made at least reducing by
 * open reconciliation differences and open loss-limit trips, and halted by the kill switch
 * (engaged, or tripped by the error streak). Shared by the gate and by `opsctl trading`/`status`.
 */
export function effectiveTradingState(inputs: {
  parameter: TradingState;
  openDifferences: number;
  openTrips: readonly { kind: string }[];
  killSwitchEngaged?: boolean;
}): { state: TradingState; reasons: string[] } {
  const reasons: string[] = [];
  if (inputs.killSwitchEngaged === true) reasons.push("kill switch engaged");
  if (inputs.parameter !== "active") reasons.push(`trading-state parameter is ${inputs.parameter}`);
  if (inputs.openDifferences > 0)
    reasons.push(`${inputs.openDifferences} reconciliation difference(s) open (\`opsctl reconcile\`)`);
  for (const trip of inputs.openTrips) reasons.push(`${trip.kind} tripped (\`opsctl trading\`)`);
  const state: TradingState =
    inputs.killSwitchEngaged === true || inputs.parameter === "halted"
      ? "halted"
      : inputs.parameter === "reducing" || inputs.openDifferences > 0 || inputs.openTrips.length > 0
        ? "reducing"
        : "active";
  return { state, reasons };
}

/** Money compared to the cent, so a loss equal to its limit passes and one cent past it trips. */
const cents = (usd: number) => Math.round(usd * 100);

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

/**
 * The portfolio cap and the loss limits (issue 15). The cap bounds new risk: only a BUY is held
 * to it. A breached loss limit refuses entries at once and trips (returned, recorded by the
 * dispatcher) unless a trip of its kind is already open; an exit always passes, since selling
 * only reduces the loss at risk. Money is compared to the cent, inclusive on the allowed side.
 * - `daily-loss-limit`: today's realised P&L plus the open positions' unrealised P&L against
 *   minus `max-daily-loss-usd` (conservative: a loss carried overnight counts in full).
 * - `max-drawdown`: equity's drop below the peak (the stored peak or this equity, whichever is
 *   higher) against `max-drawdown-pct` of the peak.
 */
function evaluateRiskGates(
  facts: GateFacts,
  decide: (gate: GateName, passed: boolean, values: Record<string, unknown>, reason: string) => void,
): NewTrip[] {
  const { params, order, risk } = facts;
  const trips: NewTrip[] = [];
  const entry = order.side === "BUY";

  const maxPortfolio = params["max-portfolio-notional"];
  const portfolioAfter = entry ? risk.portfolioNotionalUsd + order.notional : risk.portfolioNotionalUsd;
  decide(
    "max-portfolio-notional",
    !entry || portfolioAfter <= maxPortfolio,
    {
      side: order.side,
      account: risk.account,
      portfolioNotional: risk.portfolioNotionalUsd,
      orderNotional: order.notional,
      portfolioNotionalAfter: portfolioAfter,
      maxPortfolioNotional: maxPortfolio,
    },
    `portfolio would hold ${portfolioAfter.toFixed(2)}, limit ${maxPortfolio}`,
  );

  const open = (kind: TripKind) => risk.openTrips.find((trip) => trip.kind === kind) ?? null;
  const limitGate = (kind: TripKind, breached: boolean, values: Record<string, unknown>, reason: string) => {
    const alreadyOpen = open(kind);
    const all = { ...values, breached, openTripId: alreadyOpen?.id ?? null };
    decide(kind, !breached || !entry, all, `${reason}: entries refused, exits pass`);
    if (breached && alreadyOpen === null) trips.push({ kind, reason, values: all });
  };

  const maxLoss = params["max-daily-loss-usd"];
  const dailyPnl = risk.realisedTodayUsd + risk.unrealisedUsd;
  limitGate(
    "daily-loss-limit",
    cents(-dailyPnl) > cents(maxLoss),
    {
      account: risk.account,
      exchangeDate: facts.exchangeDate,
      realisedToday: risk.realisedTodayUsd,
      unrealised: risk.unrealisedUsd,
      dailyPnl,
      maxDailyLossUsd: maxLoss,
    },
    `today's P&L is ${dailyPnl.toFixed(2)} on ${facts.exchangeDate}, past the loss limit of -${maxLoss}`,
  );

  const maxDrawdownPct = params["max-drawdown-pct"];
  const peak = Math.max(risk.peakEquityUsd, risk.equityUsd);
  const drawdown = peak - risk.equityUsd;
  const drawdownPct = peak > 0 ? (drawdown / peak) * 100 : 0;
  const allowed = (peak * maxDrawdownPct) / 100;
  limitGate(
    "max-drawdown",
    cents(drawdown) > cents(allowed),
    {
      account: risk.account,
      equity: risk.equityUsd,
      peakEquity: peak,
      drawdown,
      drawdownPct,
      allowedDrawdown: allowed,
      maxDrawdownPct,
    },
    `equity ${risk.equityUsd.toFixed(2)} is ${drawdownPct.toFixed(2)}% below its peak ${peak.toFixed(2)}, limit ${maxDrawdownPct}%`,
  );
  return trips;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Gates on the order itself (invariant 10: the dispatcher re-checks price and quantity before
 * anything leaves), whatever the data behind it said:
 * - `order-quantity`: a positive number of shares (a zero-share order is rejected here, never
 *   sent to the database's check or counted as an execution error), and for a BUY at most
 *   `max-order-shares`;
 * - `min-price`: a BUY's reference price at least `min-order-price-usd`;
 * - `reference-band`: the reference price within `reference-band-pct` of the median of the last
 *   `reference-closes` trusted closes (both sides: a SELL recorded at an absurd price is as
 *   wrong as a BUY);
 * - `sane-notional`: a BUY's notional recomputed at that median (not at the reference price,
 *   which is what a bad price distorts: 515,789,473,684 shares at $1.94e-9 "cost" $1,000) within
 *   `max-notional-per-trade`.
 * Exits are never trapped by the BUY-only limits: selling a held position only reduces risk.
 */
export function evaluateOrderGates(
  order: PlannedOrder,
  recentCloses: readonly number[],
  params: Pick<
    Params,
    | "max-order-shares"
    | "min-order-price-usd"
    | "reference-band-pct"
    | "reference-closes"
    | "max-notional-per-trade"
  >,
): GateDecision[] {
  const decisions: GateDecision[] = [];
  const decide = (gate: GateName, passed: boolean, values: Record<string, unknown>, reason: string) =>
    decisions.push(passed ? { gate, passed, values } : { gate, passed, reason, values });

  const maxShares = params["max-order-shares"];
  const positive = Number.isFinite(order.quantity) && order.quantity > 0;
  decide(
    "order-quantity",
    positive && (order.side === "SELL" || order.quantity <= maxShares),
    { side: order.side, quantity: order.quantity, maxOrderShares: maxShares },
    positive ? `${order.quantity} shares exceeds ${maxShares}` : `order of ${order.quantity} shares`,
  );

  const minPrice = params["min-order-price-usd"];
  decide(
    "min-price",
    order.side === "SELL" || order.referencePrice >= minPrice,
    { side: order.side, referencePrice: order.referencePrice, minOrderPriceUsd: minPrice },
    `reference price ${order.referencePrice} below ${minPrice}`,
  );

  const closes = recentCloses.slice(0, params["reference-closes"]);
  const sane = median(closes);
  const bandPct = params["reference-band-pct"];
  const deviationPct = sane === null ? null : Math.abs(order.referencePrice / sane - 1) * 100;
  decide(
    "reference-band",
    deviationPct !== null && deviationPct <= bandPct,
    {
      referencePrice: order.referencePrice,
      medianClose: sane,
      closes: closes.length,
      referenceCloses: params["reference-closes"],
      deviationPct,
      referenceBandPct: bandPct,
    },
    deviationPct === null
      ? "no recent trusted close to check the reference price against"
      : `reference price ${order.referencePrice} is ${deviationPct.toFixed(1)}% from the median close ${sane}, limit ${bandPct}%`,
  );

  const maxPerTrade = params["max-notional-per-trade"];
  const recomputed = sane === null ? null : order.quantity * sane;
  decide(
    "sane-notional",
    order.side === "SELL" || (recomputed !== null && recomputed <= maxPerTrade),
    {
      side: order.side,
      quantity: order.quantity,
      medianClose: sane,
      recomputedNotional: recomputed,
      maxNotionalPerTrade: maxPerTrade,
    },
    recomputed === null
      ? "no recent trusted close to recompute the notional at"
      : `notional at the median close is ${recomputed.toFixed(2)}, limit ${maxPerTrade}`,
  );
  return decisions;
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
