import type { ParamKey, Params } from "../../../services/common/params/definitions.ts";
import { type OpsBackend, operatorIdentity } from "../backend.ts";
import { type ConfirmEnvironment, requireTypedConfirmation, terminalConfirmEnvironment } from "../confirm.ts";

/** What every parameter change prints (`--json`): stable across dry-run, kill-switch and params set. */
export interface ChangeResult {
  key: string;
  changed: boolean;
  oldValue: unknown;
  newValue: unknown;
  changedBy: string;
  reason: string | null;
  store: "postgres" | "ssm";
}

/** The word an operator types to turn dry-run off. */
export const LIVE_CONFIRMATION = "live";

/**
 * Sets a parameter through the target's store (which audits it), after the type-to-confirm guard
 * when the change turns dry-run off. An unchanged value writes nothing and audits nothing.
 * @throws OperatorError from the guard or the store.
 */
export async function changeParam<K extends ParamKey>(
  backend: OpsBackend,
  key: K,
  value: Params[K],
  options: { reason?: string | undefined; yes: boolean; retry: string; confirm?: ConfirmEnvironment },
): Promise<ChangeResult> {
  const store = backend.params();
  const current = (await store.getAll())[key];
  const changedBy = operatorIdentity();
  if (JSON.stringify(current) === JSON.stringify(value)) {
    return {
      key,
      changed: false,
      oldValue: current,
      newValue: value,
      changedBy,
      reason: options.reason ?? null,
      store: store.kind,
    };
  }
  if (key === "dry-run" && value === false) {
    await requireTypedConfirmation(
      options.confirm ?? terminalConfirmEnvironment(options.yes),
      `Turning dry-run OFF on the ${backend.target} stack: the dispatcher will place orders with the configured broker.`,
      LIVE_CONFIRMATION,
      options.retry,
    );
  }
  const change = await store.set(key, value, {
    changedBy,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
  });
  return {
    key,
    changed: true,
    oldValue: change.oldValue,
    newValue: change.newValue,
    changedBy,
    reason: options.reason ?? null,
    store: store.kind,
  };
}

export function describeChange(change: ChangeResult): string {
  if (!change.changed) return `${change.key} is already ${JSON.stringify(change.newValue)}: nothing changed`;
  return `${change.key}: ${JSON.stringify(change.oldValue)} → ${JSON.stringify(change.newValue)} (by ${change.changedBy}, audited in ${change.store})`;
}
