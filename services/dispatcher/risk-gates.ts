import type { GateFacts, GateName } from "./gates.ts";

/**
 * The loss limits and the trading states (issue 15): what trips trading to reducing, the state
 * in effect and why, and the portfolio cap. gates.ts runs these among the other gates.
 */

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
export function evaluateRiskGates(
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
