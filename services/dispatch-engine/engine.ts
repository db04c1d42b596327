import type { Clock } from "../common/clock.ts";
import type { CommonQueryMethods, DatabasePool } from "../common/db.ts";
import type { Logger } from "../common/logger.ts";
import type { Params } from "../common/params/definitions.ts";
import { insertRecommendations, selectSnapshots } from "./queries.ts";
import {
  decide,
  type NoSignalReason,
  type Recommendation,
  type RuleParams,
  type TickerSnapshot,
  tickAt,
  toRecommendation,
} from "./rule.ts";

/** The rule's parameters from the parameter store. */
export function ruleParamsFrom(params: Params): RuleParams {
  return {
    threshold: params["sentiment-threshold"],
    minEvents: params["min-events"],
    lookbackMinutes: params["lookback-minutes"],
    cooldownMinutes: params["cooldown-minutes"],
    maxCandleAgeSeconds: params["max-candle-age-seconds"],
  };
}

export interface TickEvaluation {
  asOf: Date;
  snapshots: TickerSnapshot[];
  /** What the rule would recommend at this tick, before any cooldown. */
  signals: Recommendation[];
  /** Tickers without a signal, by reason. */
  skipped: Partial<Record<NoSignalReason, number>>;
}

/**
 * The rule over every ticker at one tick: one set-based query, then `decide` per ticker. Live
 * engine and replay share this, so they cannot disagree on anything but the cooldown's keeper.
 */
export async function evaluateTick(
  db: Pick<CommonQueryMethods, "any">,
  asOf: Date,
  params: RuleParams,
): Promise<TickEvaluation> {
  const snapshots = await selectSnapshots(db, { asOf, params });
  const signals: Recommendation[] = [];
  const skipped: Partial<Record<NoSignalReason, number>> = {};
  for (const snapshot of snapshots) {
    const decision = decide(snapshot, params, asOf.getTime());
    if (decision.side === null) {
      skipped[decision.reason] = (skipped[decision.reason] ?? 0) + 1;
      continue;
    }
    signals.push(toRecommendation(snapshot, decision, params, asOf));
  }
  return { asOf, snapshots, signals, skipped };
}

export interface DispatchEngineDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  params: RuleParams;
}

export interface DispatchEngineResult extends Record<string, unknown> {
  asOf: string;
  tickers: number;
  signals: number;
  inserted: number;
  /** Signals the database's cooldown constraint turned away. */
  cooledDown: number;
  skipped: Partial<Record<NoSignalReason, number>>;
  ids: number[];
}

/**
 * One live run at the current tick (the 5-minute boundary at or before the clock's now):
 * evaluate, insert what passes the database's cooldown, notify the dispatcher, all in one
 * transaction.
 * @throws database errors only.
 */
export async function runDispatchEngine(deps: DispatchEngineDeps): Promise<DispatchEngineResult> {
  const asOf = tickAt(deps.clock.now());
  const evaluation = await evaluateTick(deps.db, asOf, deps.params);
  const inserted = await deps.db.transaction((tx) => insertRecommendations(tx, evaluation.signals));
  for (const row of inserted) {
    deps.logger.info({ recommendationId: row.id, ticker: row.ticker, side: row.side }, "recommendation made");
  }
  return {
    asOf: asOf.toISOString(),
    tickers: evaluation.snapshots.length,
    signals: evaluation.signals.length,
    inserted: inserted.length,
    cooledDown: evaluation.signals.length - inserted.length,
    skipped: evaluation.skipped,
    ids: inserted.map((row) => row.id),
  };
}
