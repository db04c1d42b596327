/**
 * The one health vocabulary of the pipeline: the watchdog's checks, its stored alert state
 * (`watchdog_state.level`), `opsctl status` and its exit code all speak these three levels.
 */
export type Level = "OK" | "WARN" | "ERROR";
export const LEVELS: readonly Level[] = ["OK", "WARN", "ERROR"];
export const LEVEL_RANK: Readonly<Record<Level, number>> = { OK: 0, WARN: 1, ERROR: 2 };

/** dbt-style freshness: WARN from `warnAfterMs`, ERROR from `errorAfterMs`. */
export interface Threshold {
  readonly warnAfterMs: number;
  readonly errorAfterMs: number;
}

/** The worse of the levels; OK for none. */
export function worstLevel(levels: Iterable<Level>): Level {
  let worst: Level = "OK";
  for (const level of levels) if (LEVEL_RANK[level] > LEVEL_RANK[worst]) worst = level;
  return worst;
}

/** The level of an age (or any measured value) against a threshold. */
export function levelFor(value: number, threshold: Threshold): Level {
  if (value >= threshold.errorAfterMs) return "ERROR";
  if (value >= threshold.warnAfterMs) return "WARN";
  return "OK";
}
