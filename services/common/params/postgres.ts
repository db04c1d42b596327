import * as z from "zod";
import { type DatabasePool, sql } from "../db.ts";
import type { ParamKey, Params } from "./definitions.ts";
import { mergeWithDefaults, type ParamAuditEntry, type ParameterStore, parseParam } from "./store.ts";

const paramRow = z.object({ key: z.string(), value: z.unknown() });
const auditRow = z.object({
  key: z.string(),
  old_value: z.unknown(),
  new_value: z.unknown(),
  changed_by: z.string(),
  changed_at: z.number(),
  store: z.enum(["postgres", "ssm"]),
  reason: z.string().nullable(),
});

/** The local parameter store: the `params` table, audited in `param_audit` in the same transaction. */
export function postgresParameterStore(pool: DatabasePool): ParameterStore {
  return {
    kind: "postgres",
    async getAll() {
      const rows = await pool.any(sql.type(paramRow)`SELECT key, value FROM params`);
      return mergeWithDefaults(new Map(rows.map((row) => [row.key, row.value])));
    },
    async set<K extends ParamKey>(key: K, value: Params[K], who: { changedBy: string; reason?: string }) {
      const valid = parseParam(key, value);
      return pool.transaction(async (tx) => {
        // Lock the row (or the key's absence, via the upsert below) so concurrent setters audit in order.
        const previous = await tx.maybeOne(
          sql.type(paramRow)`SELECT key, value FROM params WHERE key = ${key} FOR UPDATE`,
        );
        await tx.query(sql.unsafe`
          INSERT INTO params (key, value, updated_by, updated_at)
          VALUES (${key}, ${sql.jsonb(valid)}, ${who.changedBy}, now())
          ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()`);
        await recordParamAudit(tx, {
          key,
          oldValue: previous ? previous.value : null,
          newValue: valid,
          changedBy: who.changedBy,
          store: "postgres",
          reason: who.reason ?? null,
        });
        return {
          key,
          oldValue: previous ? parseParam(key, previous.value) : null,
          newValue: valid,
          changedBy: who.changedBy,
          reason: who.reason,
        };
      });
    },
  };
}

/** Appends to the audit trail; the SSM adapter calls this too when it has a database. */
export async function recordParamAudit(
  db: Pick<DatabasePool, "query">,
  entry: Omit<ParamAuditEntry, "changedAt">,
): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO param_audit (key, old_value, new_value, changed_by, store, reason)
    VALUES (${entry.key}, ${entry.oldValue === null ? null : sql.jsonb(entry.oldValue as never)},
            ${sql.jsonb(entry.newValue as never)}, ${entry.changedBy}, ${entry.store}, ${entry.reason})`);
}

/** The newest audit entries, newest first. */
export async function listParamAudit(pool: DatabasePool, limit = 50): Promise<ParamAuditEntry[]> {
  const rows = await pool.any(sql.type(auditRow)`
    SELECT key, old_value, new_value, changed_by, changed_at, store, reason
    FROM param_audit ORDER BY changed_at DESC, id DESC LIMIT ${limit}`);
  return rows.map((row) => ({
    key: row.key,
    oldValue: row.old_value,
    newValue: row.new_value,
    changedBy: row.changed_by,
    changedAt: new Date(row.changed_at),
    store: row.store,
    reason: row.reason,
  }));
}
