import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import type { Account } from "./portfolio.ts";
import type { Difference } from "./reconcile.ts";

/** Reconciliation's SQL (sql/0101_dispatch_reconciliation.sql). */

const positionRow = z.object({ ticker: z.string(), quantity: z.number(), avg_cost: z.number() });

export async function pipelinePositions(
  db: CommonQueryMethods,
  account: Account,
): Promise<readonly z.infer<typeof positionRow>[]> {
  return db.any(sql.type(positionRow)`
    SELECT ticker, quantity, avg_cost FROM dispatch_positions WHERE account = ${account} ORDER BY ticker`);
}

/** The bracket legs registered here and not yet terminal (a position's exits at the broker). */
export async function pipelineOpenLegIds(
  db: CommonQueryMethods,
  account: Account,
): Promise<readonly string[]> {
  return db.anyFirst(sql.type(z.object({ broker_order_id: z.string() }))`
    SELECT broker_order_id FROM dispatch_orders WHERE account = ${account} AND leg IS NOT NULL AND NOT terminal`);
}

export async function pipelineCash(db: CommonQueryMethods, account: Account): Promise<number | null> {
  return db.maybeOneFirst(sql.type(z.object({ cash: z.number() }))`
    SELECT cash FROM dispatch_accounts WHERE account = ${account}`);
}

/**
 * Records this run's differences: each open one is updated (or added), an open one this run no
 * longer finds is resolved, and the run itself is a row. One transaction.
 */
export async function recordDifferences(
  tx: CommonQueryMethods,
  account: Account,
  differences: readonly Difference[],
  now: Date,
): Promise<void> {
  const at = sql.timestamp(now);
  for (const d of differences) {
    await tx.query(sql.unsafe`
      INSERT INTO dispatch_reconcile_diffs (account, kind, subject, broker, pipeline, found_at, last_seen_at)
      VALUES (${account}, ${d.kind}, ${d.subject}, ${d.broker === null ? null : sql.jsonb(d.broker as never)},
              ${d.pipeline === null ? null : sql.jsonb(d.pipeline as never)}, ${at}, ${at})
      ON CONFLICT (account, kind, subject) WHERE resolved_at IS NULL AND accepted_at IS NULL
      DO UPDATE SET broker = EXCLUDED.broker, pipeline = EXCLUDED.pipeline, last_seen_at = EXCLUDED.last_seen_at`);
  }
  const keys = differences.map((d) => `${d.kind}/${d.subject}`);
  await tx.query(sql.unsafe`
    UPDATE dispatch_reconcile_diffs SET resolved_at = ${at}
    WHERE account = ${account} AND resolved_at IS NULL AND accepted_at IS NULL
      AND NOT (kind || '/' || subject = ANY(${sql.array(keys, "text")}))`);
  await tx.query(sql.unsafe`
    INSERT INTO dispatch_reconcile_runs (account, ran_at, differences) VALUES (${account}, ${at}, ${differences.length})`);
}

export async function recordFailedRun(
  db: CommonQueryMethods,
  account: Account,
  now: Date,
  error: string,
): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO dispatch_reconcile_runs (account, ran_at, differences, error)
    VALUES (${account}, ${sql.timestamp(now)}, 0, ${error})`);
}
