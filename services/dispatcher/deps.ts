import type { Clock } from "../common/clock.ts";
import type { DispatcherConfig } from "../common/config.ts";
import type { DatabasePool } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import type { ParameterStore } from "../common/params/store.ts";
import type { Broker } from "./executors/types.ts";

/** What the dispatcher's core is handed, and what a decision returns. */

export type DispatcherSettings = Omit<DispatcherConfig, "alpaca">;

export interface DispatcherDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  /** Read once per batch; wrap the real store with cachedParameterStore (≤ 15 s). */
  params: ParameterStore;
  /**
   * The same store uncached: consulted only while the kill switch is tripped, to see an
   * operator's reset at once (a cached "disengaged" from before the trip must not count).
   */
  freshParams: ParameterStore;
  instance: string;
  settings: DispatcherSettings;
  /** Null: no broker configured, so dry-run off rejects at the dry-run gate. */
  broker: Broker | null;
  /** Test seam: runs after an execution is written and before its transaction commits. */
  beforeCommit?: (recommendationId: number) => Promise<void>;
}

export type Outcome =
  | { id: number; status: "EXECUTED"; executor: "dry-run" | "alpaca-paper"; recovered: boolean }
  | { id: number; status: "REJECTED"; rejectedGate: string }
  | { id: number; status: "FAILED"; error: string; trippedKillSwitch: boolean };

/** A broker call failed in a way that does not say whether the order exists. */
export class UnknownBrokerOutcomeError extends Error {
  override readonly name = "UnknownBrokerOutcomeError";
  constructor(
    readonly recommendationId: number,
    cause: unknown,
  ) {
    super(`broker outcome unknown for recommendation ${recommendationId}: ${describeCause(cause)}`, {
      cause,
    });
  }
}

/** Shares to buy for `notionalUsd` at `price`, rounded down to 6 decimals (fractional shares). */
export function sharesFor(notionalUsd: number, price: number): number {
  return Math.floor((notionalUsd / price) * 1e6) / 1e6;
}
