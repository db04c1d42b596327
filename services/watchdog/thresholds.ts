import * as z from "zod";
import { ConfigError } from "../common/errors.ts";

/**
 * Freshness thresholds per stage and signal, in the spirit of dbt's source freshness
 * (`warn_after` / `error_after`, each a count and a period). A stage is judged on up to three
 * signals: `data` (the newest row it wrote), `success` (its last successful run) and
 * `heartbeat` (its last beat, for always-on loops). Its level is the worst of its signals.
 */
export type Level = "OK" | "WARN" | "ERROR";
export const LEVEL_RANK: Readonly<Record<Level, number>> = { OK: 0, WARN: 1, ERROR: 2 };

export type SignalKind = "data" | "success" | "heartbeat";

export interface Threshold {
  warnAfterMs: number;
  errorAfterMs: number;
}

export interface StageFreshness {
  /** Signals judged for this stage; a signal absent here is not checked. */
  signals: Partial<Record<SignalKind, Threshold>>;
  /** Data age counts only regular-session time (candles do not arrive while NYSE is closed). */
  marketHours?: boolean;
  /** Level of a signal never seen at all (a fresh install, a stage not deployed yet). */
  missingLevel: Level;
}

export const WATCHED_STAGES = [
  "inbound-dock",
  "sortation",
  "lane-telemetry",
  "dispatch-engine",
  "dispatcher",
  "backup",
] as const;
export type WatchedStage = (typeof WATCHED_STAGES)[number];

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const t = (warnAfterMs: number, errorAfterMs: number): Threshold => ({ warnAfterMs, errorAfterMs });

/**
 * Defaults, chosen from each stage's schedule: a scheduled stage warns after about three missed
 * runs and errors after about six; data ages are looser because quiet news hours are normal.
 */
export const DEFAULT_FRESHNESS: Readonly<Record<WatchedStage, StageFreshness>> = {
  // Every minute; news arrives around the clock from the wires, so 30 min without a new row is odd.
  "inbound-dock": {
    signals: { data: t(30 * MINUTE, 2 * HOUR), success: t(5 * MINUTE, 15 * MINUTE) },
    missingLevel: "WARN",
  },
  // Always on; beats between batches. Its newest row follows inbound-dock's, so its data threshold is looser.
  sortation: {
    signals: { data: t(1 * HOUR, 4 * HOUR), heartbeat: t(3 * MINUTE, 10 * MINUTE) },
    missingLevel: "WARN",
  },
  // Every 5 minutes; a completed 5-minute bar is due every 5 minutes of regular session only.
  "lane-telemetry": {
    signals: { data: t(20 * MINUTE, 45 * MINUTE), success: t(15 * MINUTE, 30 * MINUTE) },
    marketHours: true,
    missingLevel: "WARN",
  },
  "dispatch-engine": { signals: { success: t(15 * MINUTE, 30 * MINUTE) }, missingLevel: "WARN" },
  dispatcher: { signals: { heartbeat: t(3 * MINUTE, 10 * MINUTE) }, missingLevel: "WARN" },
  // Nightly: a missed night warns, two error.
  backup: { signals: { data: t(26 * HOUR, 50 * HOUR) }, missingLevel: "WARN" },
};

/** Backlog, feed and drift thresholds; not configurable by environment yet (see docs/watchdog.md). */
export const BACKLOG_THRESHOLDS = {
  /** Oldest unclassified raw event. */
  unclassifiedAge: t(15 * MINUTE, 1 * HOUR),
  /** Oldest PENDING recommendation (the dispatcher rejects them as stale after 15 min anyway). */
  pendingAge: t(10 * MINUTE, 30 * MINUTE),
  /** Rows parked in the last 24 h. */
  parkedLastDay: { warn: 1, error: 25 },
  /** Market bars quarantined by the trust checks in the last hour (lane_telemetry_quarantine). */
  quarantinedBarsLastHour: { warn: 1, error: 20 },
  /** consecutive_failures of an enabled feed. */
  feedFailures: { warn: 3, error: 10 },
  /** Largest absolute change of one label's share, last day vs the week before it. */
  labelDrift: { warn: 0.15, error: 0.3, minLastDay: 30, minWeek: 100 },
} as const;

const PERIOD_MS = { minute: MINUTE, hour: HOUR, day: 24 * HOUR } as const;
const dbtAfter = z
  .object({ count: z.number().positive(), period: z.enum(["minute", "hour", "day"]) })
  .strict();
const dbtThreshold = z.object({ warn_after: dbtAfter, error_after: dbtAfter }).strict();
const overridesSchema = z.partialRecord(
  z.enum(WATCHED_STAGES),
  z
    .object({
      data: dbtThreshold.optional(),
      success: dbtThreshold.optional(),
      heartbeat: dbtThreshold.optional(),
      missing_level: z.enum(["OK", "WARN", "ERROR"]).optional(),
    })
    .strict(),
);

/**
 * The defaults with OPS_WATCHDOG_FRESHNESS applied, e.g.
 * `{"dispatcher":{"heartbeat":{"warn_after":{"count":5,"period":"minute"},"error_after":{"count":20,"period":"minute"}}}}`.
 * An override of a signal adds it to the stage's checks when the default has none.
 * @throws ConfigError naming OPS_WATCHDOG_FRESHNESS when the JSON or a threshold is invalid.
 */
export function resolveFreshness(overridesJson: string | undefined): Record<WatchedStage, StageFreshness> {
  const out = structuredClone(DEFAULT_FRESHNESS) as Record<WatchedStage, StageFreshness>;
  if (!overridesJson) return out;
  let raw: unknown;
  try {
    raw = JSON.parse(overridesJson);
  } catch (error) {
    throw new ConfigError("OPS_WATCHDOG_FRESHNESS", `is not JSON (${(error as Error).message})`);
  }
  const parsed = overridesSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      "OPS_WATCHDOG_FRESHNESS",
      `${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`,
      `stages are ${WATCHED_STAGES.join(", ")}; each signal takes warn_after and error_after as {count, period}`,
    );
  }
  for (const [stage, override] of Object.entries(parsed.data) as Array<
    [WatchedStage, z.infer<typeof overridesSchema>[WatchedStage]]
  >) {
    if (!override) continue;
    const target = out[stage];
    for (const signal of ["data", "success", "heartbeat"] as const) {
      const value = override[signal];
      if (!value) continue;
      const warnAfterMs = value.warn_after.count * PERIOD_MS[value.warn_after.period];
      const errorAfterMs = value.error_after.count * PERIOD_MS[value.error_after.period];
      if (errorAfterMs < warnAfterMs) {
        throw new ConfigError(
          "OPS_WATCHDOG_FRESHNESS",
          `${stage}.${signal}: error_after is shorter than warn_after`,
          "make error_after at least as long as warn_after",
        );
      }
      target.signals[signal] = { warnAfterMs, errorAfterMs };
    }
    if (override.missing_level) target.missingLevel = override.missing_level;
  }
  return out;
}
