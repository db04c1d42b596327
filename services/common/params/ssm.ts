import {
  GetParameterCommand,
  GetParametersByPathCommand,
  ParameterNotFound,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type { ParamKey, Params } from "./definitions.ts";
import {
  InvalidParameterError,
  mergeWithDefaults,
  type ParamAuditEntry,
  type ParameterStore,
  parseParam,
} from "./store.ts";

export interface SsmParameterStoreOptions {
  client: SSMClient;
  /** e.g. /ops-pipeline/dev; keys live at `${prefix}/${key}`. */
  prefix: string;
  /** Also writes the audit row to the database when one is reachable (SSM keeps its own history too). */
  audit?: (entry: Omit<ParamAuditEntry, "changedAt">) => Promise<void>;
}

function decode(name: string, value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch {
    throw new InvalidParameterError(name, `SSM value is not JSON: ${value.slice(0, 40)}`);
  }
}

/**
 * Parameters in SSM Parameter Store, one String parameter per key holding JSON. The stack
 * creates them with `ignoreChanges: ["value"]`, so what operators set here survives `pulumi up`.
 */
export function ssmParameterStore(options: SsmParameterStoreOptions): ParameterStore {
  const { client, prefix } = options;
  return {
    kind: "ssm",
    async getAll() {
      const stored = new Map<string, unknown>();
      let nextToken: string | undefined;
      do {
        const page = await client.send(
          new GetParametersByPathCommand({
            Path: prefix,
            Recursive: false,
            WithDecryption: true,
            NextToken: nextToken,
          }),
        );
        for (const parameter of page.Parameters ?? []) {
          if (!parameter.Name) continue;
          const key = parameter.Name.slice(prefix.length + 1);
          stored.set(key, decode(key, parameter.Value));
        }
        nextToken = page.NextToken;
      } while (nextToken);
      return mergeWithDefaults(stored);
    },
    async set<K extends ParamKey>(key: K, value: Params[K], who: { changedBy: string; reason?: string }) {
      const valid = parseParam(key, value);
      const name = `${prefix}/${key}`;
      let oldRaw: unknown = null;
      try {
        const current = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
        oldRaw = decode(key, current.Parameter?.Value) ?? null;
      } catch (error) {
        if (!(error instanceof ParameterNotFound)) throw error;
      }
      await client.send(
        new PutParameterCommand({
          Name: name,
          Value: JSON.stringify(valid),
          Type: "String",
          Overwrite: true,
          Description: `ops-pipeline ${key}; last set by ${who.changedBy}`.slice(0, 1024),
        }),
      );
      await options.audit?.({
        key,
        oldValue: oldRaw,
        newValue: valid,
        changedBy: who.changedBy,
        store: "ssm",
        reason: who.reason ?? null,
      });
      let oldValue: Params[K] | null = null;
      if (oldRaw !== null) {
        try {
          oldValue = parseParam(key, oldRaw);
        } catch {
          oldValue = null;
        }
      }
      return { key, oldValue, newValue: valid, changedBy: who.changedBy, reason: who.reason };
    },
  };
}
