import {
  intervalMsOf,
  type ServiceWindow,
  STAGE_TABLE,
  type StageTable,
  type TimedStage,
  WATCHED_STAGES,
} from "../services/common/stages.ts";
import type { StackConfig } from "./config.ts";

/**
 * What the stack declares, as plain data: the program's components take their sizes and
 * schedules from here and the cost model prices the same object, so the two cannot disagree
 * (test/stack/stack.test.ts also checks the registered resources against it). Cadences and alarm
 * thresholds are not written here: they come from the stage table (services/common/stages.ts),
 * the one the runtime, the watchdog and `opsctl status` read.
 */

/** The stages that run on a timer are the stack's scheduled Lambdas. */
export type LambdaStage = TimedStage;

export interface LambdaPlan {
  readonly stage: LambdaStage;
  /** How often it runs, from the stage table; the Scheduler expression is derived (scheduleExpression). */
  readonly intervalMinutes: number;
  /** Shorter than the interval so one run ends before the next is due. */
  readonly timeoutSeconds: number;
  /** Expected mean billed duration, for the cost model only. */
  readonly expectedDurationMs: number;
  /** Needs the internet (feeds, market API) besides AWS APIs. */
  readonly internet: boolean;
}

/**
 * The EventBridge Scheduler rate expression of an interval, e.g. `rate(5 minutes)`.
 * @throws Error when the interval is not a whole number of minutes (rate() takes no seconds).
 */
export function scheduleExpression(intervalMinutes: number): string {
  if (!Number.isInteger(intervalMinutes) || intervalMinutes < 1) {
    throw new Error(
      `a scheduled stage runs every whole number of minutes (EventBridge rate()), not ${intervalMinutes}: fix its cadence in services/common/stages.ts`,
    );
  }
  return `rate(${intervalMinutes} minute${intervalMinutes === 1 ? "" : "s"})`;
}

/** What the stack adds to a timed stage: its Lambda's timeout and, for the cost model, its footprint. */
const LAMBDA_SIZES: Readonly<Record<LambdaStage, Omit<LambdaPlan, "stage" | "intervalMinutes">>> = {
  "inbound-dock": { timeoutSeconds: 50, expectedDurationMs: 3_000, internet: true },
  "lane-telemetry": { timeoutSeconds: 120, expectedDurationMs: 4_000, internet: true },
  "dispatch-engine": { timeoutSeconds: 120, expectedDurationMs: 1_500, internet: false },
  watchdog: { timeoutSeconds: 60, expectedDurationMs: 1_000, internet: false },
};

/** The scheduled Lambdas of a stage table: one per timed stage, at the table's cadence. */
export function lambdaPlans(stages: StageTable = STAGE_TABLE): readonly LambdaPlan[] {
  return (Object.keys(LAMBDA_SIZES) as LambdaStage[]).map((stage) => ({
    stage,
    intervalMinutes: intervalMsOf(stage, stages) / 60_000,
    ...LAMBDA_SIZES[stage],
  }));
}

export const LAMBDAS: readonly LambdaPlan[] = lambdaPlans();

/**
 * The ops-api function (services/ops-api/lambda.ts): opsctl's only way to the private database on
 * AWS. Invoked by operators, never scheduled, so its cost follows use; the figures below assume a
 * busy operator (about 100 opsctl commands a day) and are for the cost model only.
 */
export const OPS_API = {
  stage: "ops-api",
  timeoutSeconds: 30,
  /** Memory of the function, MB: one small query per invocation. */
  memoryMb: 256,
  /** A few concurrent opsctl commands at most; bounds the database connections it can open. */
  reservedConcurrency: 2,
  invocationsPerMonth: 3_000,
  expectedDurationMs: 300,
} as const;

/**
 * sortation's asynchronous invokes of the engine's function (services/sortation/engine-waker.ts):
 * the worker wakes the engine for the tickers it just classified, coalesced to at most one invoke
 * per `minGapMs` (OPS_SORTATION_ENGINE_WAKE_GAP_MS, set from here), so their number follows the
 * news, bounded by the window. The expected figure, for the cost model only: about one a minute
 * while sortation runs (ingest polls every minute, and the items a poll finds are classified in a
 * batch or two within a second or so, which one invoke carries).
 */
export const ENGINE_WAKES = {
  minGapMs: 1_000,
  expectedPerMinute: 1,
  /** An event run reads only its tickers' rows: shorter than the sweep's 1.5 s. */
  expectedDurationMs: 500,
} as const;

export interface EngineWakePlan {
  /** Expected asynchronous invokes per trading day (sortation's window plus its lead). */
  readonly perTradingDay: number;
  /** The most the worker can send in a trading day: one per `minGapMs`, all window long. */
  readonly maxPerTradingDay: number;
  readonly perMonth: number;
  readonly minGapMs: number;
  readonly expectedDurationMs: number;
}

export type ServiceName = "sortation" | "dispatcher";
export type TaskName = "migrator" | "backup";

export interface ContainerPlan {
  readonly name: ServiceName | TaskName;
  /** Which image: `worker` bakes the FinBERT model, `app` has the CLI, services and pg_dump. */
  readonly image: "app" | "worker";
  readonly command: readonly string[];
  readonly cpu: number;
  readonly memoryMb: number;
}

export interface ServicePlan extends ContainerPlan {
  readonly name: ServiceName;
  readonly desiredCount: number;
  /**
   * When it runs (the stage table's `runsIn`, exchange time, weekdays): scaled up
   * SERVICE_LEAD_MINUTES before the window opens and to 0 when it closes (stack/fargate-service.ts).
   */
  readonly window: ServiceWindow;
  /** Hours a month the service runs: the window plus its lead, on weekdays. */
  readonly hoursPerMonth: number;
}

/** A service is started this long before its window so it has beaten by the time it is judged. */
export const SERVICE_LEAD_MINUTES = 10;
/** The time zone of the services' windows (the exchange's, daylight saving included). */
export const SERVICE_WINDOW_TIME_ZONE = "America/New_York";
/** Schedules per windowed service: scale up, alarm actions on, scale down, alarm actions off. */
export const SCHEDULES_PER_SERVICE = 4;
const WEEKDAYS_PER_MONTH = (5 / 7) * (730 / 24);

/** EventBridge Scheduler cron of a minute of the day, Monday to Friday (in SERVICE_WINDOW_TIME_ZONE). */
export function weekdayCron(minuteOfDay: number): string {
  if (!Number.isInteger(minuteOfDay) || minuteOfDay < 0 || minuteOfDay >= 24 * 60) {
    throw new Error(`a service window edge is a whole minute of the day, not ${minuteOfDay}`);
  }
  return `cron(${minuteOfDay % 60} ${Math.floor(minuteOfDay / 60)} ? * MON-FRI *)`;
}

function windowOf(stage: ServiceName, stages: StageTable): ServiceWindow {
  const window = stages[stage].freshness.runsIn;
  if (!window) throw new Error(`the stage table gives ${stage} no runsIn window`);
  if (window.fromMinute - SERVICE_LEAD_MINUTES < 0 || window.toMinute <= window.fromMinute) {
    throw new Error(`${stage}'s window must open after 00:${SERVICE_LEAD_MINUTES} and close after it opens`);
  }
  return window;
}

const hoursInWindow = (window: ServiceWindow) =>
  ((window.toMinute - window.fromMinute + SERVICE_LEAD_MINUTES) / 60) * WEEKDAYS_PER_MONTH;

export interface TaskPlan extends ContainerPlan {
  readonly name: TaskName;
  /** Expected runs per month and minutes per run, for the cost model. */
  readonly runsPerMonth: number;
  readonly minutesPerRun: number;
}

/**
 * The nightly backup's EventBridge cron expression (UTC), from the stage table's cadence.
 * @throws Error when the table's backup is not nightly.
 */
export function backupSchedule(stages: StageTable = STAGE_TABLE): string {
  const { cadence } = stages.backup;
  if (cadence.kind !== "nightly") throw new Error(`the backup stage is ${cadence.kind}, not nightly`);
  return `cron(${cadence.atUtc.minute} ${cadence.atUtc.hour} * * ? *)`;
}

export const BACKUP_SCHEDULE = backupSchedule();

/** Watchdog runs a missing WatchdogHeartbeat may last before its alarm: the watchdog's own WARN age. */
export function watchdogHeartbeatPeriods(stages: StageTable = STAGE_TABLE): number {
  const warnMs = stages.watchdog.freshness.signals.success?.warnAfterMs;
  if (warnMs === undefined) throw new Error("the stage table gives the watchdog no success threshold");
  return Math.max(1, Math.round(warnMs / intervalMsOf("watchdog", stages)));
}

export interface StackPlan {
  readonly config: StackConfig;
  readonly lambdas: readonly LambdaPlan[];
  /** The backup task's cron expression. */
  readonly backupSchedule: string;
  /** Consecutive watchdog periods without a heartbeat before its alarm fires. */
  readonly watchdogHeartbeatPeriods: number;
  /** The unscheduled ops-api function. */
  readonly opsApi: typeof OPS_API;
  /** sortation's invokes of the engine's function (none when sortation is scaled to 0). */
  readonly engineWakes: EngineWakePlan;
  readonly services: readonly ServicePlan[];
  readonly tasks: readonly TaskPlan[];
  /** Every CloudWatch alarm, by name suffix: the cost model counts them, tests find them. */
  readonly alarms: readonly string[];
  /** EventBridge Scheduler runs a month of the services' window schedules. */
  readonly serviceScheduleRunsPerMonth: number;
  /** Secrets Manager secrets the stack creates. */
  readonly secrets: number;
  /** Custom metrics the watchdog publishes (EMF), each billed as a custom metric. */
  readonly customMetrics: number;
  /** Container images kept in ECR (built by the stack), with expected compressed sizes in GB. */
  readonly imagesGb: number;
  /** Expected log ingestion per month, GB, all groups together. */
  readonly logIngestGbPerMonth: number;
  /** Expected backup bucket size, GB (7 nightly dumps of a small database). */
  readonly backupStorageGb: number;
}

/**
 * The plan of a stack from its configuration and the stage table (the repository's unless given:
 * tests vary it). Pure.
 */
export function stackPlan(config: StackConfig, stages: StageTable = STAGE_TABLE): StackPlan {
  const lambdas = lambdaPlans(stages);
  const services: ServicePlan[] = [
    {
      name: "sortation",
      image: "worker",
      command: ["node", "dist/services/sortation/main.js"],
      cpu: config.sortationCpu,
      memoryMb: config.sortationMemoryMb,
      desiredCount: config.serviceDesiredCount,
      window: windowOf("sortation", stages),
      hoursPerMonth: hoursInWindow(windowOf("sortation", stages)),
    },
    {
      name: "dispatcher",
      image: "app",
      command: ["node", "dist/services/dispatcher/main.js"],
      cpu: config.dispatcherCpu,
      memoryMb: config.dispatcherMemoryMb,
      desiredCount: config.serviceDesiredCount,
      window: windowOf("dispatcher", stages),
      hoursPerMonth: hoursInWindow(windowOf("dispatcher", stages)),
    },
  ];
  const tasks: TaskPlan[] = [
    {
      name: "migrator",
      image: "app",
      command: ["node", "cli/bin/opsctl.js", "migrate"],
      cpu: 256,
      memoryMb: 512,
      runsPerMonth: 4,
      minutesPerRun: 2,
    },
    {
      name: "backup",
      image: "app",
      command: ["node", "dist/services/backup/main.js"],
      cpu: 256,
      memoryMb: 512,
      runsPerMonth: 30,
      minutesPerRun: 5,
    },
  ];
  const alarms = [
    ...lambdas.map((lambda) => `${lambda.stage}-errors`),
    `${OPS_API.stage}-errors`,
    ...services.filter((service) => service.desiredCount > 0).map((service) => `${service.name}-running`),
    "watchdog-heartbeat",
    "billing",
    // The NAT instance (stack/network.ts): status check (with EC2 recovery), egress stopped, egress runaway.
    ...(config.egress === "nat-instance" ? ["nat-status", "nat-egress-stopped", "nat-egress-runaway"] : []),
  ];
  const sortation = services.find((service) => service.name === "sortation")!;
  const windowMinutes = sortation.window.toMinute - sortation.window.fromMinute + SERVICE_LEAD_MINUTES;
  const running = sortation.desiredCount > 0 ? 1 : 0;
  const engineWakes: EngineWakePlan = {
    perTradingDay: running * windowMinutes * ENGINE_WAKES.expectedPerMinute,
    maxPerTradingDay: running * ((windowMinutes * 60_000) / ENGINE_WAKES.minGapMs),
    perMonth: running * sortation.hoursPerMonth * 60 * ENGINE_WAKES.expectedPerMinute,
    minGapMs: ENGINE_WAKES.minGapMs,
    expectedDurationMs: ENGINE_WAKES.expectedDurationMs,
  };
  return {
    config,
    lambdas,
    engineWakes,
    backupSchedule: backupSchedule(stages),
    watchdogHeartbeatPeriods: watchdogHeartbeatPeriods(stages),
    opsApi: OPS_API,
    services,
    tasks,
    alarms,
    serviceScheduleRunsPerMonth:
      services.filter((service) => service.desiredCount > 0).length *
      SCHEDULES_PER_SERVICE *
      WEEKDAYS_PER_MONTH,
    // The master login (the migrator's) and the two Alpaca keys. Stage roles log in with IAM
    // tokens (services/common/rds-iam.ts), so they have no secret.
    secrets: 1 + 2,
    // The watchdog emits staleness for every stage it watches (no alarm reads it: its alerts do).
    customMetrics: 1 + WATCHED_STAGES.length,
    imagesGb: (config.appImage ? 0 : 0.25) + (config.workerImage ? 0 : 0.45),
    logIngestGbPerMonth: 0.5,
    backupStorageGb: 0.1,
  };
}
