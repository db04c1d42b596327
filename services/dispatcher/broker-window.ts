import { sql } from "../common/db.ts";
import { dryRunWindow, withDryRunWindow } from "../common/dry-run-window.ts";
import { describeCause } from "../common/errors.ts";
import type { Params } from "../common/params/definitions.ts";
import type { DispatcherDeps } from "./deps.ts";
import type { Autonomously } from "./kill-switch.ts";

/**
 * The dispatcher's side of the bounded broker window (`opsctl dry-run off --for`, issue 15):
 * a decision judges the window at its own `now` (dry-run in effect from the deadline on, whatever
 * the cache or the stored `dry-run` says), checks the clock again right before every broker call,
 * and the first dispatcher to notice the deadline writes dry-run back on, audited, once.
 */

/** The broker window ended between the decision's start and a broker call: decide again, as dry-run. */
export class BrokerWindowClosedError extends Error {
  override readonly name = "BrokerWindowClosedError";
  constructor(readonly until: string) {
    super(`the broker window ended at ${until}: no broker call; deciding again with dry-run in effect`);
  }
}

/**
 * Called right before each broker call of a decision (and before its intent is written): the
 * clock, read now, must still be before the window's end. The decision's `now` was read at its
 * start; a broker answering slowly or a long batch must not carry an order past the deadline.
 * @throws BrokerWindowClosedError when the deadline has passed.
 */
export function assertBrokerWindowOpen(deps: Pick<DispatcherDeps, "clock">, params: Params): void {
  const until = params["dry-run-until"];
  if (params["dry-run"] === false && until !== null && dryRunWindow(params, deps.clock.now())?.expired) {
    throw new BrokerWindowClosedError(until);
  }
}

/** Windows this dispatcher has already written back (one transaction per window, not per decision). */
const reverted = new WeakMap<DispatcherDeps, string>();

/**
 * The decision's parameters with the window applied at `now`. When the window has ended and
 * `dry-run` still says off, writes it back on (and clears the deadline, as `opsctl dry-run on`
 * does), audited with who = `dispatcher:<instance>`. Serialised across dispatchers by an advisory
 * lock and re-checked on a fresh read under it, so the revert is audited once however many notice.
 * A failed write is logged and changes nothing here: the decision is dry-run either way.
 */
export async function applyBrokerWindow(
  deps: DispatcherDeps,
  params: Params,
  now: Date,
  autonomously: Autonomously,
): Promise<Params> {
  const window = dryRunWindow(params, now);
  if (!window?.expired) return params;
  if (reverted.get(deps) !== window.until) {
    try {
      await revertOnce(deps, now, autonomously);
      reverted.set(deps, window.until);
    } catch (error) {
      deps.logger.error(
        { until: window.until, error: describeCause(error) },
        "broker window ended; writing dry-run back on failed (dry-run is in effect regardless); retried on the next decision",
      );
    }
  }
  return withDryRunWindow(params, now);
}

async function revertOnce(deps: DispatcherDeps, now: Date, autonomously: Autonomously): Promise<void> {
  await autonomously(() =>
    deps.db.transaction(async (tx) => {
      // Key (4040, 3): the dispatcher's key space (the risk lock is (4040, 1)).
      await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(4040, 3)`);
      const fresh = await autonomously(() => deps.freshParams.getAll());
      const window = dryRunWindow(fresh, now);
      // Someone else wrote it back, turned it on, or extended the window: nothing to do.
      if (!window?.expired) return;
      const by = `dispatcher:${deps.instance}`;
      const reason = `broker window (opsctl dry-run off --for) ended at ${window.until}`;
      await autonomously(() => deps.params.set("dry-run", true, { changedBy: by, reason }));
      await autonomously(() => deps.params.set("dry-run-until", null, { changedBy: by, reason }));
      deps.logger.warn({ until: window.until, by }, "broker window ended: dry-run written back on");
    }),
  );
}
