import type { CommonQueryMethods } from "../common/db.ts";
import type { Params } from "../common/params/definitions.ts";
import { ruleParamsFrom } from "../dispatch-engine/engine.ts";
import { replay } from "../dispatch-engine/replay.ts";
import {
  DEFAULT_REPLAY_COSTS,
  type ReplayCosts,
  type ReplayPnl,
  type ReplayTrade,
  replayTrades,
} from "../dispatch-engine/replay-trades.ts";
import type { RuleParams } from "../dispatch-engine/rule.ts";

/**
 * `opsctl replay` as an operation: the dispatch-engine rule over stored history. The parameters
 * are the target's stored ones (the params table locally, SSM on AWS), read by the caller from its
 * own store and passed in, so the ops-api never reads parameters itself and both targets replay
 * with the values the live engine uses.
 */
export type { ReplayCosts, ReplayPnl, ReplayTrade, RuleParams };

export interface ReplayRequest {
  from: Date;
  to: Date;
  params: RuleParams;
  /** The dry-run simulator's size, slippage and fees (the target's dispatcher configuration); absent: the defaults. */
  costs?: ReplayCosts | undefined;
}

/** What `opsctl replay --json` prints; plain JSON, so it travels through the ops-api unchanged. */
export interface ReplayReport {
  from: string;
  to: string;
  ticks: number;
  params: RuleParams;
  cooledDown: number;
  recommendations: Array<{
    asOf: string;
    ticker: string;
    side: string;
    sentiment: number;
    eventCount: number;
    close: number;
    sma20: number;
    threshold: number;
    cooldownUntil: string;
    eventIds: number[];
  }>;
  /** The trades those recommendations would have made, exits applied (replay-trades.ts). */
  trades: ReplayTrade[];
  pnl: ReplayPnl;
  costs: ReplayCosts;
}

/** The rule parameters of a stored parameter set, with an optional threshold instead of the stored one. */
export function replayParams(stored: Params, threshold?: number): RuleParams {
  const params = ruleParamsFrom(stored);
  return threshold === undefined ? params : { ...params, threshold };
}

/**
 * Replays [from, to]; writes nothing.
 * @throws OperatorError REPLAY_RANGE when the range holds no tick or is too long.
 */
export async function replayRecommendations(
  db: Pick<CommonQueryMethods, "any">,
  request: ReplayRequest,
): Promise<ReplayReport> {
  const result = await replay(db, request);
  const costs = request.costs ?? DEFAULT_REPLAY_COSTS;
  const { trades, pnl } = await replayTrades(db, result.recommendations, {
    toMs: new Date(result.to).getTime(),
    costs,
  });
  return {
    trades,
    pnl,
    costs,
    from: result.from,
    to: result.to,
    ticks: result.ticks,
    params: request.params,
    cooledDown: result.cooledDown,
    recommendations: result.recommendations.map((r) => ({
      asOf: r.asOf.toISOString(),
      ticker: r.ticker,
      side: r.side,
      sentiment: r.sentiment,
      eventCount: r.eventCount,
      close: r.close,
      sma20: r.sma20,
      threshold: r.threshold,
      cooldownUntil: r.cooldownUntil.toISOString(),
      eventIds: r.inputs.snapshot.stories.flatMap((story) => story.sources.map((source) => source.id)),
    })),
  };
}
