import type { Clock } from "../common/clock.ts";
import type { CommonQueryMethods, DatabasePool } from "../common/db.ts";
import { exitParamsFrom } from "../common/exits.ts";
import type { Logger } from "../common/logger.ts";
import type { Params } from "../common/params/definitions.ts";
import { insertEvaluation, insertRecommendations, selectSnapshots } from "./queries.ts";
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
    exits: exitParamsFrom(params),
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
  onlyTickers?: readonly string[] | null,
): Promise<TickEvaluation> {
  const snapshots = await selectSnapshots(db, { asOf, params, ...(onlyTickers ? { onlyTickers } : {}) });
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
  const inserted = await deps.db.transaction((tx) =>
    insertRecommendations(tx, evaluation.signals, deps.clock.now()),
  );
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

export interface EventEvaluationResult extends DispatchEngineResult {
  /** The evaluated tickers; null: every ticker with news in the window. */
  only: readonly string[] | null;
  wakeups: number;
}

/**
 * One event-driven run (the engine's local loop, woken by sortation's NOTIFY): the rule at the
 * clock's exact now, not at a 5-minute boundary, for the notified tickers only. The decision
 * time and the tickers are stored (dispatch_engine_evaluations) in the same transaction as the
 * recommendations, so replay evaluates at exactly that time and reproduces them; the cooldown
 * is the same exclusion constraint as the sweep's, so an event decision and a later tick never
 * double a signal.
 * @throws database errors only.
 */
export async function runEventEvaluation(
  deps: DispatchEngineDeps,
  work: { tickers: readonly string[] | null; wakeups: number },
): Promise<EventEvaluationResult> {
  const asOf = deps.clock.now();
  const evaluation = await evaluateTick(deps.db, asOf, deps.params, work.tickers);
  const inserted = await deps.db.transaction(async (tx) => {
    await insertEvaluation(tx, { asOf, tickers: work.tickers, wakeups: work.wakeups });
    return insertRecommendations(tx, evaluation.signals, deps.clock.now());
  });
  for (const row of inserted) {
    deps.logger.info(
      { recommendationId: row.id, ticker: row.ticker, side: row.side, trigger: "event" },
      "recommendation made",
    );
  }
  return {
    asOf: asOf.toISOString(),
    only: work.tickers,
    wakeups: work.wakeups,
    tickers: evaluation.snapshots.length,
    signals: evaluation.signals.length,
    inserted: inserted.length,
    cooledDown: evaluation.signals.length - inserted.length,
    skipped: evaluation.skipped,
    ids: inserted.map((row) => row.id),
  };
}
