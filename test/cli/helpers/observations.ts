import type { WatchedStage } from "../../../services/common/stages.ts";
import { WATCHED_STAGES } from "../../../services/common/stages.ts";
import type { Observations } from "../../../services/watchdog/checks.ts";

/** What the watchdog reads from an empty stack: nothing seen, no backlog. */
export function emptyObservations(): Observations {
  return {
    stages: Object.fromEntries(
      WATCHED_STAGES.map((stage) => [stage, { data: null, success: null, heartbeat: null }]),
    ) as Observations["stages"],
    unclassified: { count: 0, oldestAt: null },
    pending: { count: 0, oldestAt: null },
    parked: { total: 0, lastDay: 0 },
    failingFeeds: [],
    quarantinedBars: { lastHour: 0, open: 0 },
    labels: { lastDay: {}, week: {} },
  };
}

/** Every watched stage (or those given) seen on every signal at `atMs`. */
export function seenAt(
  observations: Observations,
  atMs: number,
  stages: readonly WatchedStage[] = WATCHED_STAGES,
) {
  for (const stage of stages) observations.stages[stage] = { data: atMs, success: atMs, heartbeat: atMs };
  return observations;
}
