import * as z from "zod";
import { type CommonQueryMethods, type DatabasePool, sql } from "../common/db.ts";

/**
 * Reconciliation as operators see it (`opsctl reconcile`): the open differences between the
 * broker and the database, and accepting them, which adopts the broker's side in the database
 * (positions, cash, orders to follow) and records who accepted and when on each row (the audit).
 */

const diffRow = z.object({
  id: z.number(),
  account: z.string(),
  kind: z.enum(["position", "open_order", "account"]),
  subject: z.string(),
  broker: z.record(z.string(), z.unknown()).nullable(),
  pipeline: z.record(z.string(), z.unknown()).nullable(),
  found_at: z.number(),
  last_seen_at: z.number(),
});

export interface ReconcileDifference {
  id: number;
  account: string;
  kind: "position" | "open_order" | "account";
  subject: string;
  broker: Record<string, unknown> | null;
  pipeline: Record<string, unknown> | null;
  foundAt: string;
  lastSeenAt: string;
}

export interface ReconcileReport {
  /** reducing while any difference is open. */
  tradingState: "active" | "reducing";
  lastRunAt: string | null;
  lastRunError: string | null;
  differences: ReconcileDifference[];
}

async function openDifferences(db: CommonQueryMethods, lock: boolean): Promise<ReconcileDifference[]> {
  const rows = await db.any(sql.type(diffRow)`
    SELECT id, account, kind, subject, broker, pipeline, found_at, last_seen_at FROM dispatch_reconcile_diffs
    WHERE resolved_at IS NULL AND accepted_at IS NULL ORDER BY id ${lock ? sql.fragment`FOR UPDATE` : sql.fragment``}`);
  return rows.map((r) => ({
    id: r.id,
    account: r.account,
    kind: r.kind,
    subject: r.subject,
    broker: r.broker,
    pipeline: r.pipeline,
    foundAt: new Date(r.found_at).toISOString(),
    lastSeenAt: new Date(r.last_seen_at).toISOString(),
  }));
}

export async function readReconcileReport(db: CommonQueryMethods): Promise<ReconcileReport> {
  const differences = await openDifferences(db, false);
  const run = await db.maybeOne(sql.type(z.object({ ran_at: z.number(), error: z.string().nullable() }))`
    SELECT ran_at, error FROM dispatch_reconcile_runs ORDER BY id DESC LIMIT 1`);
  return {
    tradingState: differences.length > 0 ? "reducing" : "active",
    lastRunAt: run ? new Date(run.ran_at).toISOString() : null,
    lastRunError: run?.error ?? null,
    differences,
  };
}

const num = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) ? value : null;

/** Makes the database say what the broker said, for one difference (the caller's transaction). */
async function adopt(tx: CommonQueryMethods, d: ReconcileDifference, now: Date): Promise<void> {
  const at = sql.timestamp(now);
  if (d.kind === "position") {
    const quantity = num(d.broker?.quantity);
    const price = num(d.broker?.avgEntryPrice);
    if (quantity === null || quantity <= 0 || price === null || price <= 0) {
      await tx.query(
        sql.unsafe`DELETE FROM dispatch_positions WHERE account = ${d.account} AND ticker = ${d.subject}`,
      );
      return;
    }
    await ensureAccount(tx, d.account, now);
    await tx.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES (${d.account}, ${d.subject}, ${quantity}, ${price}, ${at}, ${at})
      ON CONFLICT (account, ticker) DO UPDATE SET quantity = EXCLUDED.quantity, avg_cost = EXCLUDED.avg_cost,
        updated_at = EXCLUDED.updated_at`);
  } else if (d.kind === "account") {
    const cash = num(d.broker?.cash);
    if (cash === null) return;
    await ensureAccount(tx, d.account, now, cash);
    await tx.query(sql.unsafe`
      UPDATE dispatch_accounts SET cash = ${cash}, updated_at = ${at} WHERE account = ${d.account}`);
  } else if (d.broker === null) {
    // Open here, unknown at the broker: the pipeline stops waiting for it.
    await tx.query(sql.unsafe`
      UPDATE dispatch_orders SET status = 'unknown-at-broker', terminal = true, updated_at = ${at}
      WHERE broker_order_id = ${d.subject} AND NOT terminal`);
  }
  // An order open at the broker only (placed by hand) is left to the broker; its fills reach
  // the database through the next position difference.
}

async function ensureAccount(tx: CommonQueryMethods, account: string, now: Date, cash = 0): Promise<void> {
  const at = sql.timestamp(now);
  await tx.query(sql.unsafe`
    INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
    VALUES (${account}, ${Math.max(cash, 0.01)}, ${cash}, ${at}, ${at}) ON CONFLICT (account) DO NOTHING`);
}

/**
 * Accepts every open difference: adopts the broker's side and marks each accepted by `who`.
 * Holds the dispatcher's risk lock so no fill lands in between.
 * Returns what was accepted (empty: nothing was open).
 */
export async function acceptDifferences(
  db: DatabasePool,
  options: { who: string; now: Date },
): Promise<ReconcileDifference[]> {
  return db.transaction(async (tx) => {
    // The dispatcher's risk lock (services/dispatcher/queries.ts, takeRiskLock): same two keys.
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(4040, 1)`);
    const open = await openDifferences(tx, true);
    for (const d of open) await adopt(tx, d, options.now);
    if (open.length > 0) {
      await tx.query(sql.unsafe`
        UPDATE dispatch_reconcile_diffs SET accepted_at = ${sql.timestamp(options.now)}, accepted_by = ${options.who}
        WHERE id = ANY(${sql.array(
          open.map((d) => d.id),
          "int8",
        )})`);
    }
    return open;
  });
}
