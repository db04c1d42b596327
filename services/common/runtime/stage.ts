import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { DatabasePool } from "../db.ts";
import type { Logger } from "../logger.ts";
import type { ParameterStore } from "../params/store.ts";
import type { SecretsProvider } from "../secrets.ts";

/** What every stage core is handed by its adapter (Lambda handler, Fargate loop, local runtime). */
export interface StageContext {
  readonly db: DatabasePool;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly params: ParameterStore;
  /** API keys and credentials: the environment locally, Secrets Manager on AWS. */
  readonly secrets: SecretsProvider;
  readonly config: Config;
  /** Aborted when the process is stopping: finish or release the current batch, then return. */
  readonly signal: AbortSignal;
  /** Who is running: host and pid, stamped on leases and heartbeats. */
  readonly instance: string;
}

/** A stage run on a timer (AWS: an EventBridge schedule invoking a Lambda). */
export interface ScheduledStage {
  readonly name: string;
  readonly kind: "scheduled";
  readonly intervalMs: number;
  /**
   * The local runtime's tick when it differs from the stage table's cadence (`intervalMs`, the
   * AWS schedule): inbound-dock ticks every 10 s locally so feeds polled faster than once a
   * minute are reached on their slot. Unset: `intervalMs`.
   */
  readonly localIntervalMs?: number;
  /** One run; its result is logged and kept in the heartbeat's details. */
  run(context: StageContext): Promise<Record<string, unknown> | undefined>;
}

/** An always-on stage (AWS: a Fargate service); resolves once `signal` aborts and it has cleaned up. */
export interface LoopStage {
  readonly name: string;
  readonly kind: "loop";
  run(context: StageContext): Promise<void>;
}

export type StageDefinition = ScheduledStage | LoopStage;
