import type { Clock } from "../clock.ts";
import { OperatorError } from "../errors.ts";
import { defaultParams, PARAMETERS, type ParamKey, type Params } from "./definitions.ts";

export interface ParamChange<K extends ParamKey = ParamKey> {
  key: K;
  oldValue: Params[K] | null;
  newValue: Params[K];
  changedBy: string;
  reason?: string | undefined;
}

export interface ParamAuditEntry {
  key: string;
  oldValue: unknown;
  newValue: unknown;
  changedBy: string;
  changedAt: Date;
  store: "postgres" | "ssm";
  reason: string | null;
}

/** Where run-time parameters live: SSM on AWS, a table locally. */
export interface ParameterStore {
  readonly kind: "postgres" | "ssm";
  /**
   * Every parameter, defaults filled in for the ones never set.
   * @throws InvalidParameterError when a stored value does not fit its schema.
   */
  getAll(): Promise<Params>;
  /**
   * Sets one parameter and audits the change (what, old, new, who, when).
   * @throws InvalidParameterError when the value does not fit the schema.
   */
  set<K extends ParamKey>(
    key: K,
    value: Params[K],
    who: { changedBy: string; reason?: string },
  ): Promise<ParamChange<K>>;
}

/** A stored or offered parameter value does not fit its schema. */
export class InvalidParameterError extends OperatorError {
  override readonly name = "InvalidParameterError";
  readonly key: string;
  constructor(key: string, detail: string) {
    super("PARAM_INVALID", `parameter ${key}: ${detail}`, {
      hint: `set a valid value with opsctl, e.g. opsctl params set ${key} <value>`,
    });
    this.key = key;
  }
}

/** Validates a raw (JSON-decoded) value for a key. */
export function parseParam<K extends ParamKey>(key: K, raw: unknown): Params[K] {
  const result = PARAMETERS[key].schema.safeParse(raw);
  if (!result.success) {
    throw new InvalidParameterError(key, result.error.issues.map((issue) => issue.message).join("; "));
  }
  return result.data as Params[K];
}

/** Merges stored raw values over the defaults, validating each. Unknown keys are ignored. */
export function mergeWithDefaults(stored: ReadonlyMap<string, unknown>): Params {
  const params = defaultParams();
  for (const [key, raw] of stored) {
    if (Object.hasOwn(PARAMETERS, key)) {
      const typedKey = key as ParamKey;
      (params as Record<ParamKey, unknown>)[typedKey] = parseParam(typedKey, raw);
    }
  }
  return params;
}

/**
 * Reads through to `store` at most once per `ttlMs` (the dispatcher uses ≤ 15 s, so an
 * operator's change takes effect within that). Writes go straight through and drop the cache.
 */
export function cachedParameterStore(store: ParameterStore, ttlMs: number, clock: Clock): ParameterStore {
  let cached: { at: number; params: Params } | undefined;
  return {
    kind: store.kind,
    async getAll() {
      const now = clock.now().getTime();
      if (cached && now - cached.at < ttlMs) return cached.params;
      const params = await store.getAll();
      cached = { at: now, params };
      return params;
    },
    async set(key, value, who) {
      cached = undefined;
      return store.set(key, value, who);
    },
  };
}
