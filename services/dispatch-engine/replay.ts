import type { CommonQueryMethods } from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";
import { evaluateTick } from "./engine.ts";
import { selectEvaluations } from "./queries.ts";
import { type Recommendation, type RuleParams, TICK_MS } from "./rule.ts";

export interface ReplayOptions {
  from: Date;
  to: Date;
  params: RuleParams;
  /** Refuses longer ranges (each tick is one query); 31 days is 8,928 ticks. */
  maxTicks?: number;
}

export interface ReplayResult {
  from: string;
  to: string;
  ticks: number;
  /** Stored event-driven evaluations replayed at their own decision times. */
  events: number;
  recommendations: Recommendation[];
  /** Signals the in-memory cooldown suppressed. */
  cooledDown: number;
}

/**
 * The live rule over stored history at every 5-minute tick in [from, to], and at every stored
 * event-driven evaluation in it (dispatch_engine_evaluations: its decision time, its tickers), each as of that instant
 * (only events ingested and classified, and candles closed, by then), with the cooldown kept in
 * memory exactly as the exclusion constraint keeps it: a signal is dropped when
 * [as_of, as_of + cooldown) overlaps an earlier kept one of the same ticker and side. Writes
 * nothing. Recommendations made before `from` are not consulted: the replay starts cold.
 * @throws OperatorError when the range is empty, reversed or too long.
 */
export async function replay(
  db: Pick<CommonQueryMethods, "any">,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const first = Math.ceil(options.from.getTime() / TICK_MS) * TICK_MS;
  const last = Math.floor(options.to.getTime() / TICK_MS) * TICK_MS;
  const maxTicks = options.maxTicks ?? 8_928;
  if (!(last >= first)) {
    throw new OperatorError("REPLAY_RANGE", "the range holds no 5-minute tick", {
      hint: "give --from earlier than --to, at least 5 minutes apart (ISO 8601 times, e.g. 2026-11-26T14:30Z)",
    });
  }
  const ticks = (last - first) / TICK_MS + 1;
  if (ticks > maxTicks) {
    throw new OperatorError("REPLAY_RANGE", `the range holds ${ticks} ticks, more than ${maxTicks}`, {
      hint: "replay a shorter range, or several ranges one after another",
    });
  }
  // The live engine's decision instants: every 5-minute tick (the sweep, all tickers) and every
  // stored event-driven evaluation in the range (its own time, its own tickers), in time order.
  // A tick and an event at the same instant: the tick first, as one sorted order either way.
  const instants: { at: number; tickers: readonly string[] | null }[] = [];
  for (let at = first; at <= last; at += TICK_MS) instants.push({ at, tickers: null });
  const events = await selectEvaluations(db, { from: options.from, to: options.to });
  for (const event of events) instants.push({ at: event.asOf.getTime(), tickers: event.tickers });
  instants.sort((a, b) => a.at - b.at || (a.tickers === null ? 0 : 1) - (b.tickers === null ? 0 : 1));
  const cooldownEnds = new Map<string, number>();
  const recommendations: Recommendation[] = [];
  let cooledDown = 0;
  for (const { at, tickers } of instants) {
    const evaluation = await evaluateTick(db, new Date(at), options.params, tickers);
    for (const signal of evaluation.signals) {
      const key = `${signal.ticker}\u0000${signal.side}`;
      if ((cooldownEnds.get(key) ?? Number.NEGATIVE_INFINITY) > at) {
        cooledDown += 1;
        continue;
      }
      cooldownEnds.set(key, signal.cooldownUntil.getTime());
      recommendations.push(signal);
    }
  }
  return {
    from: new Date(first).toISOString(),
    to: new Date(last).toISOString(),
    ticks,
    events: events.length,
    recommendations,
    cooledDown,
  };
}
