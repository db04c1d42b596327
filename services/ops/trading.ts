import * as z from "zod";
import { type CommonQueryMethods, type DatabasePool, sql } from "../common/db.ts";
import type { Params } from "../common/params/definitions.ts";
import { effectiveTradingState, TRIP_KINDS, type TradingState } from "../dispatcher/gates.ts";
import type { Account } from "../dispatcher/portfolio.ts";

/**
 * The trading state as operators see it (`opsctl trading`, `opsctl status`): the state in effect
 * and why (the `trading-state` parameter, open loss-limit trips, open reconciliation differences,
 * the kill switch), and acknowledging trips, which is how an operator returns trading to active
 * after a loss limit (the command then sets the parameter, audited in param_audit).
 */

export interface TradingTrip {
  id: number;
  account: string;
  kind: (typeof TRIP_KINDS)[number];
  reason: string;
  /** Every value the gate looked at when it tripped. */
  values: Record<string, unknown>;
  recommendationId: number | null;
  trippedAt: string;
  trippedBy: string;
}

/** What the database says about the trading state (the parameters are the store's). */
export interface TradingFacts {
  openTrips: TradingTrip[];
  openDifferences: number;
}

export interface TradingReport extends TradingFacts {
  /** The state the dispatcher's trading-state gate applies. */
  state: TradingState;
  /** Why it is not active, in words (empty when active). */
  reasons: string[];
  parameter: TradingState;
  killSwitch: { engaged: boolean; reason: string | null };
}

const tripRow = z.object({
  id: z.number(),
  account: z.string(),
  kind: z.enum(TRIP_KINDS),
  reason: z.string(),
  gate_values: z.record(z.string(), z.unknown()),
  recommendation_id: z.number().nullable(),
  tripped_at: z.number(),
  tripped_by: z.string(),
});

function toTrip(row: z.infer<typeof tripRow>): TradingTrip {
  return {
    id: row.id,
    account: row.account,
    kind: row.kind,
    reason: row.reason,
    values: row.gate_values,
    recommendationId: row.recommendation_id,
    trippedAt: new Date(row.tripped_at).toISOString(),
    trippedBy: row.tripped_by,
  };
}

async function openTrips(db: CommonQueryMethods, lock: boolean): Promise<TradingTrip[]> {
  const rows = await db.any(sql.type(tripRow)`
    SELECT id, account, kind, reason, gate_values, recommendation_id, tripped_at, tripped_by
    FROM dispatch_trading_trips WHERE acknowledged_at IS NULL
    ORDER BY id ${lock ? sql.fragment`FOR UPDATE` : sql.fragment``}`);
  return rows.map(toTrip);
}

/** Open trips and open reconciliation differences, over every account. */
export async function readTradingFacts(db: CommonQueryMethods): Promise<TradingFacts> {
  const trips = await openTrips(db, false);
  const differences = await db.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM dispatch_reconcile_diffs WHERE resolved_at IS NULL AND accepted_at IS NULL`);
  return { openTrips: trips, openDifferences: differences };
}

/** The state in effect and why, from the database's facts and the store's parameters. Pure. */
export function tradingReport(
  facts: TradingFacts,
  params: Pick<Params, "trading-state" | "kill-switch">,
): TradingReport {
  const killSwitch = params["kill-switch"];
  const { state, reasons } = effectiveTradingState({
    parameter: params["trading-state"],
    openDifferences: facts.openDifferences,
    openTrips: facts.openTrips,
    killSwitchEngaged: killSwitch.engaged,
  });
  return {
    state,
    reasons,
    parameter: params["trading-state"],
    killSwitch: { engaged: killSwitch.engaged, reason: killSwitch.reason },
    ...facts,
  };
}

/** One line per reason, the way `opsctl trading` and `opsctl status` say it. */
export function describeTradingState(report: Pick<TradingReport, "state" | "reasons">): string {
  return report.reasons.length === 0 ? report.state : `${report.state} (${report.reasons.join("; ")})`;
}

/**
 * Acknowledges every open trip as `who`: each row records who and when, and the audit gets an
 * `acknowledged` row with the reason. A max-drawdown trip restarts its account's peak from the
 * equity now (else the drop from the old peak would trip again at the next decision); a daily
 * loss still past its limit trips again at the next decision (raise max-daily-loss-usd to trade
 * on that day). Holds the dispatcher's risk lock, so no decision reads a half-acknowledged state.
 * Returns what was acknowledged (empty: nothing was open).
 */
export async function acknowledgeTrips(
  db: DatabasePool,
  options: { who: string; reason: string | null; now: Date },
): Promise<TradingTrip[]> {
  return db.transaction(async (tx) => {
    // The dispatcher's risk lock (services/dispatcher/queries.ts, takeRiskLock): same two keys.
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(4040, 1)`);
    const open = await openTrips(tx, true);
    if (open.length === 0) return open;
    const at = sql.timestamp(options.now);
    const ids = sql.array(
      open.map((trip) => trip.id),
      "int8",
    );
    await tx.query(sql.unsafe`
      UPDATE dispatch_trading_trips SET acknowledged_at = ${at}, acknowledged_by = ${options.who},
        acknowledge_reason = ${options.reason}
      WHERE id = ANY(${ids})`);
    await tx.query(sql.unsafe`
      INSERT INTO dispatch_trading_audit (trip_id, event, at, actor, reason)
      SELECT id, 'acknowledged', ${at}, ${options.who}, ${options.reason} FROM unnest(${ids}) AS id`);
    const drawdownAccounts = new Set(open.filter((t) => t.kind === "max-drawdown").map((t) => t.account));
    const { paperPortfolio } = await import("../dispatcher/portfolio.ts");
    for (const account of drawdownAccounts) {
      const portfolio = await paperPortfolio(tx, options.now, account as Account);
      if (!portfolio.exists) continue;
      await tx.query(sql.unsafe`
        UPDATE dispatch_accounts SET peak_equity = ${portfolio.equity}, peak_equity_at = ${at}
        WHERE account = ${account}`);
    }
    return open;
  });
}
