import type { Level, Threshold } from "./health.ts";

/**
 * The table of stages: each stage's name, cadence, freshness signals and alarm thresholds, written
 * once. Everything that needs them derives from here:
 *
 * - the local runtime: each scheduled stage's interval (`intervalMsOf`, the stages' stage.ts);
 * - the watchdog: which stages it watches and their thresholds (services/watchdog/thresholds.ts);
 * - `opsctl status`: it judges stages with the watchdog's checks over the same table;
 * - the stack: the EventBridge schedules of the Lambdas and the backup task, and the CloudWatch
 *   watchdog-heartbeat alarm (stack/plan.ts, stack/watchdog-alarms.ts); per-stage staleness is the
 *   watchdog's own alerts' to say, not a second CloudWatch alarm's.
 *
 * test/common/stages.test.ts holds the table to its own rules (a liveness threshold leaves room
 * for missed runs); test/stack/ shows the
 * stack's schedules following a changed cadence.
 */

/** How a stage runs. */
export type Cadence =
  /** On a timer: a Lambda on an EventBridge rate schedule on AWS, a timer locally. */
  | { readonly kind: "every"; readonly intervalMs: number }
  /** Always on (a Fargate service, a local loop), beating at least every `beatMs` between batches. */
  | { readonly kind: "always-on"; readonly beatMs: number }
  /**
   * Once a day at a UTC time: an ECS task on an EventBridge cron on AWS; locally a scheduled stage
   * that checks every few minutes whether the latest slot has its run (`nightlySlotOf`).
   */
  | { readonly kind: "nightly"; readonly atUtc: { readonly hour: number; readonly minute: number } };

/**
 * What a stage is judged on: `data` (the newest row it wrote), `success` (its last successful run)
 * and `heartbeat` (its last beat, for always-on stages). Its level is the worst of its signals.
 */
export type SignalKind = "data" | "success" | "heartbeat";

/**
 * When an always-on service runs: Monday to Friday, [fromMinute, toMinute) minutes of the day in
 * exchange time (America/New_York). On AWS the stack scales the service to 0 outside it
 * (stack/plan.ts); the watchdog counts the stage's ages, and the backlog it drains, in window time
 * only, so a service stopped on purpose is not reported stale.
 */
export interface ServiceWindow {
  readonly fromMinute: number;
  readonly toMinute: number;
}

export interface StageFreshness {
  /** Runs only in this window (see ServiceWindow); every signal's age counts window time only. */
  readonly runsIn?: ServiceWindow;
  /** Signals judged for this stage; a signal absent here is not checked. */
  readonly signals: Readonly<Partial<Record<SignalKind, Threshold>>>;
  /** Data age counts only regular-session time (candles do not arrive while NYSE is closed). */
  readonly marketHours?: boolean;
  /** Level of a signal never seen at all (a fresh install, a stage not deployed yet). */
  readonly missingLevel: Level;
}

export interface StageSpec {
  readonly cadence: Cadence;
  readonly freshness: StageFreshness;
  /**
   * Whether the watchdog judges (and alerts on) this stage. False only for the watchdog itself: a
   * dead watchdog cannot say so, which is what the stack's heartbeat alarm is for.
   */
  readonly watched: boolean;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const after = (warnAfterMs: number, errorAfterMs: number): Threshold => ({ warnAfterMs, errorAfterMs });

/**
 * The stages, in pipeline order. Liveness thresholds (`success`, `heartbeat`) warn after about
 * three missed runs and error after about six; data ages are looser because quiet news hours are
 * normal. A change here moves the runtime, the watchdog, `opsctl status` and the stack together.
 */
export const STAGE_TABLE = {
  // Every minute; news arrives around the clock from the wires, so 30 min without a new row is odd.
  "inbound-dock": {
    cadence: { kind: "every", intervalMs: 1 * MINUTE },
    freshness: {
      signals: { data: after(30 * MINUTE, 2 * HOUR), success: after(5 * MINUTE, 15 * MINUTE) },
      missingLevel: "WARN",
    },
    watched: true,
  },
  // Always on in its window; beats between batches. Its newest row follows inbound-dock's, so its
  // data threshold is looser. Weekdays 06:00-16:15 New York: news that arrived overnight is
  // classified in the 3.5 hours before the 09:30 open, the day's news as it comes.
  sortation: {
    cadence: { kind: "always-on", beatMs: 1 * MINUTE },
    freshness: {
      runsIn: { fromMinute: 6 * 60, toMinute: 16 * 60 + 15 },
      signals: { data: after(1 * HOUR, 4 * HOUR), heartbeat: after(3 * MINUTE, 10 * MINUTE) },
      missingLevel: "WARN",
    },
    watched: true,
  },
  // Every 5 minutes; a completed 5-minute bar is due every 5 minutes of regular session only.
  "lane-telemetry": {
    cadence: { kind: "every", intervalMs: 5 * MINUTE },
    freshness: {
      signals: { data: after(20 * MINUTE, 45 * MINUTE), success: after(15 * MINUTE, 30 * MINUTE) },
      marketHours: true,
      missingLevel: "WARN",
    },
    watched: true,
  },
  "dispatch-engine": {
    cadence: { kind: "every", intervalMs: 5 * MINUTE },
    freshness: { signals: { success: after(15 * MINUTE, 30 * MINUTE) }, missingLevel: "WARN" },
    watched: true,
  },
  // Locally always on: woken by sortation's NOTIFY, it evaluates the classified tickers at once
  // (the 5-minute run above stays as the sweep). On AWS there is no such process: sortation
  // invokes the engine's function, whose event runs are recorded under this name, only when news
  // is classified. So it is not watched and never seen is OK: a dead loop or a lost invoke only
  // makes decisions wait for the sweep, which is watched.
  "dispatch-engine-events": {
    cadence: { kind: "always-on", beatMs: 1 * MINUTE },
    freshness: { signals: { heartbeat: after(3 * MINUTE, 10 * MINUTE) }, missingLevel: "OK" },
    watched: false,
  },
  // Weekdays 09:00-16:15 New York: the market-hours gate rejects every order outside NYSE's
  // 09:30-16:00 session, so outside it the dispatcher can only record "closed" rejections. Starting
  // 30 minutes before the open, it decides the night's backlog while the market is still closed,
  // exactly as if it had run all night.
  dispatcher: {
    cadence: { kind: "always-on", beatMs: 1 * MINUTE },
    freshness: {
      runsIn: { fromMinute: 9 * 60, toMinute: 16 * 60 + 15 },
      signals: { heartbeat: after(3 * MINUTE, 10 * MINUTE) },
      missingLevel: "WARN",
    },
    watched: true,
  },
  // Every 5 minutes. Not watched by itself; its success threshold is also the stack's heartbeat
  // alarm (WatchdogHeartbeat missing for 15 minutes), so status and CloudWatch agree on "down".
  watchdog: {
    cadence: { kind: "every", intervalMs: 5 * MINUTE },
    freshness: { signals: { success: after(15 * MINUTE, 30 * MINUTE) }, missingLevel: "WARN" },
    watched: false,
  },
  // Nightly at 03:30 UTC, after US market close and the evening news peak. A missed night warns
  // (24 h plus 2 h for a slow dump), two error.
  backup: {
    cadence: { kind: "nightly", atUtc: { hour: 3, minute: 30 } },
    freshness: { signals: { data: after(26 * HOUR, 50 * HOUR) }, missingLevel: "WARN" },
    watched: true,
  },
} as const satisfies Record<string, StageSpec>;

export type StageTable = Readonly<Record<StageName, StageSpec>>;
export type StageName = keyof typeof STAGE_TABLE;
export const STAGE_NAMES = Object.keys(STAGE_TABLE) as StageName[];

/** Stages the watchdog judges, in table order. */
export type WatchedStage = {
  [K in StageName]: (typeof STAGE_TABLE)[K]["watched"] extends true ? K : never;
}[StageName];
export const WATCHED_STAGES = STAGE_NAMES.filter((name) => STAGE_TABLE[name].watched) as WatchedStage[];

/** Stages that run on a timer (`every`): Lambdas on AWS, timers locally. */
export type TimedStage = {
  [K in StageName]: (typeof STAGE_TABLE)[K]["cadence"]["kind"] extends "every" ? K : never;
}[StageName];

const DAY_MS = 24 * HOUR;

/** How often a stage is expected to run or beat, ms (a day for a nightly one). */
export function periodMsOf(spec: Pick<StageSpec, "cadence">): number {
  switch (spec.cadence.kind) {
    case "every":
      return spec.cadence.intervalMs;
    case "always-on":
      return spec.cadence.beatMs;
    case "nightly":
      return DAY_MS;
  }
}

/**
 * The interval of a timed stage, ms: what the local runtime waits between runs.
 * @throws Error when the stage does not run on a timer (a bug: the stage's kind and the table disagree).
 */
/** The UTC time of day of a nightly stage. @throws Error when the stage is not nightly in the table. */
export function nightlySlotOf(
  name: StageName,
  table: StageTable = STAGE_TABLE,
): { readonly hour: number; readonly minute: number } {
  const { cadence } = table[name];
  if (cadence.kind !== "nightly")
    throw new Error(`stage ${name} is ${cadence.kind} in the stage table, not nightly`);
  return cadence.atUtc;
}

export function intervalMsOf(name: StageName, table: StageTable = STAGE_TABLE): number {
  const { cadence } = table[name];
  if (cadence.kind !== "every")
    throw new Error(`stage ${name} is ${cadence.kind} in the stage table, not timed`);
  return cadence.intervalMs;
}
