import type { Config } from "../../../services/common/config.ts";
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
  /** dry-run changes only: where orders go with dry-run off (null: no broker is configured). */
  broker?: string | null;
}

/**
 * The broker orders go to with dry-run off, as an operator reads it; null when none is configured
 * (every order is then rejected at the dry-run gate). On an AWS target the stack's own setting
 * decides, which this machine cannot see.
 */
export function describeBroker(config: Config): string | null {
  if (config.target === "aws") return "the broker the AWS stack is configured with (its OPS_ALPACA_BASE_URL)";
  const url = config.dispatcher.alpaca.baseUrl;
  return url ? `Alpaca at ${new URL(url).host}` : null;
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
  options: {
    reason?: string | undefined;
    yes: boolean;
    retry: string;
    confirm?: ConfirmEnvironment;
    /** describeBroker(config): said before a dry-run change is confirmed and in its result. */
    broker?: string | null;
    /** Runs after the confirmation and before the write (dry-run off --for writes its deadline first). */
    beforeWrite?: () => Promise<void>;
  },
): Promise<ChangeResult> {
  const store = backend.params();
  const current = (await store.getAll())[key];
  const changedBy = operatorIdentity();
  const broker = key === "dry-run" && options.broker !== undefined ? { broker: options.broker } : {};
  if (JSON.stringify(current) === JSON.stringify(value)) {
    return {
      key,
      changed: false,
      oldValue: current,
      newValue: value,
      changedBy,
      reason: options.reason ?? null,
      store: store.kind,
      ...broker,
    };
  }
  if (key === "dry-run" && value === false) {
    const where =
      options.broker === null
        ? "no broker is configured (OPS_ALPACA_BASE_URL is unset), so every order will be rejected at the dry-run gate"
        : `the dispatcher will place orders with ${options.broker ?? "the configured broker"}`;
    await requireTypedConfirmation(
      options.confirm ?? terminalConfirmEnvironment(options.yes),
      `Turning dry-run OFF on the ${backend.target} stack: ${where}.`,
      LIVE_CONFIRMATION,
      options.retry,
    );
  }
  await options.beforeWrite?.();
  const change = await store.set(key, value, {
    changedBy,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
  });
  return {
    key,
    changed: true,
    // The value in effect before (a parameter never set is at its default, not null).
    oldValue: change.oldValue ?? current,
    newValue: change.newValue,
    changedBy,
    reason: options.reason ?? null,
    store: store.kind,
    ...broker,
  };
}

export function describeChange(change: ChangeResult): string {
  if (!change.changed) return `${change.key} is already ${JSON.stringify(change.newValue)}: nothing changed`;
  const line = `${change.key}: ${JSON.stringify(change.oldValue)} → ${JSON.stringify(change.newValue)} (by ${change.changedBy}, audited in ${change.store})`;
  if (change.key !== "dry-run" || change.broker === undefined) return line;
  if (change.newValue === true) return `${line}\nno broker is called`;
  return change.broker === null
    ? `${line}\nno broker is configured (OPS_ALPACA_BASE_URL unset): orders are rejected at the dry-run gate`
    : `${line}\norders now go to ${change.broker}`;
}
