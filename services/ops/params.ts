import type { DatabasePool } from "../common/db.ts";
import { listParamAudit } from "../common/params/postgres.ts";

/** An audit entry as commands print it (the time as an ISO string on both targets). */
export interface AuditLine {
  key: string;
  oldValue: unknown;
  newValue: unknown;
  changedBy: string;
  changedAt: string;
  store: "postgres" | "ssm";
  reason: string | null;
}

/** The newest `limit` parameter changes, newest first. @throws slonik errors. */
export async function listAuditLines(db: DatabasePool, limit: number): Promise<AuditLine[]> {
  return (await listParamAudit(db, limit)).map((entry) => ({
    ...entry,
    changedAt: entry.changedAt.toISOString(),
  }));
}
