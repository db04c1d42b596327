import { AsyncResource } from "node:async_hooks";
import type { CommonQueryMethods } from "../common/db.ts";
import type { Logger } from "../common/logger.ts";
import type { Params } from "../common/params/definitions.ts";
import type { ParameterStore } from "../common/params/store.ts";
import { clearErrorStreak, type ErrorStreakRow, incrementErrorStreak, markStreakTripped } from "./queries.ts";

/**
 * The self-tripping kill switch: N consecutive execution errors, across every dispatcher,
 * engage the `kill-switch` parameter (audited) and mark the shared streak tripped; only an
 * operator disengaging the parameter resets it. A success breaks the streak (recordExecuted).
 */

/**
 * Runs `fn` outside the caller's transaction. Slonik refuses queries on another connection from
 * inside a transaction's async context; the intent and the kill-switch parameter must commit on
 * their own, before the transaction, so they run in a context captured before it began.
 */
export type Autonomously = <T>(fn: () => Promise<T>) => Promise<T>;

/** Captures the current (non-transaction) async context; call it before opening the transaction. */
export function autonomousScope(): Autonomously {
  const outside = new AsyncResource("ops-dispatcher-autonomous");
  return (fn) => outside.runInAsyncScope(fn);
}

export interface KillSwitchDeps {
  /** The store the trip is written to (audited). */
  params: ParameterStore;
  /** The same store uncached, read while the streak is tripped to see an operator's reset at once. */
  freshParams: ParameterStore;
  instance: string;
  logger: Logger;
}

export interface Streak {
  consecutiveErrors: number;
  trippedAtMs: number | null;
}

/**
 * Counts one execution error in the shared streak (caller holds the risk lock) and trips the
 * kill switch when the streak reaches the threshold: the parameter is engaged first (audited,
 * its own transaction), then the streak is marked tripped in the caller's, so a crash in
 * between leaves the switch engaged (safe), never the reverse. Returns the trip's reason when
 * this error tripped it.
 */
export async function countExecutionError(
  tx: CommonQueryMethods,
  deps: KillSwitchDeps,
  options: { threshold: number; message: string; now: Date; autonomously: Autonomously },
): Promise<{ reason: string } | null> {
  const { threshold, message, now } = options;
  const updated: ErrorStreakRow = await incrementErrorStreak(tx, { message, now });
  if (updated.consecutive_errors < threshold || updated.tripped_at !== null) return null;
  const reason = `tripped after ${updated.consecutive_errors} consecutive execution errors; last: ${message}`;
  const by = `dispatcher:${deps.instance}`;
  await options.autonomously(() =>
    deps.params.set(
      "kill-switch",
      { engaged: true, reason, at: now.toISOString(), by },
      { changedBy: by, reason },
    ),
  );
  await markStreakTripped(tx, now);
  return { reason };
}

/**
 * While the streak is tripped only an operator disengaging the parameter resets it. The
 * parameter was engaged before tripped_at was committed, so a fresh read saying "disengaged"
 * is a reset: the streak is cleared (caller holds the risk lock). Returns the streak and the
 * parameters the gates should see (fresh ones when it was tripped).
 */
export async function resetIfOperatorDisengaged(
  tx: CommonQueryMethods,
  deps: KillSwitchDeps,
  options: { streak: Streak; params: Params; autonomously: Autonomously },
): Promise<{ streak: Streak; params: Params }> {
  if (options.streak.trippedAtMs === null) return { streak: options.streak, params: options.params };
  const params = await options.autonomously(() => deps.freshParams.getAll());
  if (params["kill-switch"].engaged) return { streak: options.streak, params };
  await clearErrorStreak(tx);
  deps.logger.info("kill switch was reset by an operator; error streak cleared");
  return { streak: { consecutiveErrors: 0, trippedAtMs: null }, params };
}
