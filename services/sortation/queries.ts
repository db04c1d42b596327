import * as z from "zod";
import { CLASSIFIED_EVENTS_CHANNEL, CLASSIFIED_EVENTS_MAX_PAYLOAD_BYTES } from "../common/channels.ts";
import { type CommonQueryMethods, type DatabasePool, sql } from "../common/db.ts";
import type { TickerEvidence } from "./tickers.ts";

/**
 * The work queue of invariant 2, on the lease columns of inbound_events_raw. Every query takes
 * `now` from the injected clock, never the server's now(), so tests can expire leases by moving
 * a FakeClock.
 */

export const ClaimedRow = z.object({
  id: z.number().int(),
  title: z.string(),
  summary: z.string().nullable(),
  attempts: z.number().int(),
});
export type ClaimedRow = z.infer<typeof ClaimedRow>;

/** What the classifier decided about one raw event, ready to insert. */
export interface CompletedBatch {
  inserted: number;
  tickers: string[];
}

export interface ClassifiedRow {
  rawId: number;
  label: "positive" | "negative" | "neutral";
  pPositive: number;
  pNegative: number;
  pNeutral: number;
  score: number;
  classifier: "finbert" | "lexicon";
  modelId: string;
  modelRevision: string | null;
  modelDtype: string | null;
  /** Canonical (BRK.B); may be empty. */
  tickers: readonly string[];
  /** How each ticker was found, in the order of `tickers` (the ticker_evidence column). */
  tickerEvidence: readonly TickerEvidence[];
}

const ts = (date: Date) => sql.fragment`${date.toISOString()}::timestamptz`;

/**
 * Claims up to `limit` open rows (never classified, not parked, lease free or expired) in ONE
 * statement: the CTE locks them with SKIP LOCKED so concurrent workers never wait on or share a
 * row, and the UPDATE stamps the lease and counts the attempt. A row whose lease expired is
 * claimed again here; that is how a dead worker's batch comes back.
 */
export async function claimBatch(
  db: CommonQueryMethods,
  options: { worker: string; now: Date; leaseMs: number; limit: number },
): Promise<ClaimedRow[]> {
  const rows = await db.any(sql.type(ClaimedRow)`
    WITH picked AS (
      SELECT id FROM inbound_events_raw
      WHERE processed_at IS NULL AND parked_at IS NULL
        AND (lease_expires_at IS NULL OR lease_expires_at <= ${ts(options.now)})
      ORDER BY id
      LIMIT ${options.limit}
      FOR UPDATE SKIP LOCKED
    )
    UPDATE inbound_events_raw AS r
    SET claimed_by = ${options.worker},
        claimed_at = ${ts(options.now)},
        lease_expires_at = ${ts(options.now)} + make_interval(secs => ${options.leaseMs / 1000}),
        attempts = r.attempts + 1
    FROM picked
    WHERE r.id = picked.id
    RETURNING r.id, r.title, r.summary, r.attempts
  `);
  return [...rows].sort((a, b) => a.id - b.id);
}

/**
 * Parks rows whose lease expired after their last allowed attempt: a row that kills its worker
 * every time (a poison input crashing the runtime) never reaches failRows, so the sweep here is
 * what stops it being retried forever. Returns the parked ids.
 */
export async function parkExhausted(
  db: CommonQueryMethods,
  options: { now: Date; maxAttempts: number },
): Promise<number[]> {
  const rows = await db.any(sql.type(z.object({ id: z.number().int() }))`
    UPDATE inbound_events_raw
    SET parked_at = ${ts(options.now)},
        last_error = coalesce(last_error || '; ', '') || 'lease expired on attempt ' || attempts::text
          || ' of ' || ${options.maxAttempts}::text || ' (worker died or hung)',
        claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL
    WHERE processed_at IS NULL AND parked_at IS NULL
      AND lease_expires_at <= ${ts(options.now)}
      AND attempts >= ${options.maxAttempts}
    RETURNING id
  `);
  return rows.map((row) => row.id);
}

/**
 * Writes the classifications and marks their raw rows processed, in one transaction.
 * The classified row is unique per raw event (ON CONFLICT DO NOTHING), so a worker whose lease
 * expired and was overtaken cannot add a second classification; it just finds the row done.
 * Returns how many classified rows this call inserted and their distinct tickers, sorted (what
 * the engine is woken for once the transaction has committed).
 */
export async function completeBatch(
  db: DatabasePool,
  options: { worker: string; now: Date; rows: readonly ClassifiedRow[] },
): Promise<CompletedBatch> {
  if (options.rows.length === 0) return { inserted: 0, tickers: [] };
  const tuples = options.rows.map((row) => [
    row.rawId,
    row.label,
    row.pPositive,
    row.pNegative,
    row.pNeutral,
    row.score,
    row.classifier,
    row.modelId,
    row.modelRevision,
    row.modelDtype,
    // sql.unnest cannot carry a text[] per row (PostgreSQL arrays are rectangular), so the
    // tickers travel space-joined and are split back in SQL; tickers never contain spaces.
    row.tickers.join(" "),
    JSON.stringify(row.tickerEvidence),
  ]);
  const ids = options.rows.map((row) => row.rawId);
  return db.transaction(async (tx) => {
    const inserted = await tx.any(sql.type(z.object({ raw_id: z.number().int() }))`
      INSERT INTO inbound_events_classified (
        raw_id, label, p_positive, p_negative, p_neutral, score, classifier,
        model_id, model_revision, model_dtype, tickers, ticker_evidence, published_at, classified_at
      )
      SELECT u.raw_id, u.label, u.p_positive, u.p_negative, u.p_neutral, u.score, u.classifier,
             u.model_id, u.model_revision, u.model_dtype,
             coalesce(string_to_array(nullif(u.tickers, ''), ' '), '{}'::text[]),
             u.ticker_evidence::jsonb, r.published_at, ${ts(options.now)}
      FROM ${sql.unnest(tuples, [
        "int8",
        "text",
        "float4",
        "float4",
        "float4",
        "float4",
        "text",
        "text",
        "text",
        "text",
        "text",
        "text",
      ])} AS u(raw_id, label, p_positive, p_negative, p_neutral, score, classifier,
               model_id, model_revision, model_dtype, tickers, ticker_evidence)
      JOIN inbound_events_raw AS r ON r.id = u.raw_id
      ON CONFLICT (raw_id) DO NOTHING
      RETURNING raw_id
    `);
    await tx.query(sql.unsafe`
      UPDATE inbound_events_raw
      SET processed_at = ${ts(options.now)}, last_error = NULL,
          claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL
      WHERE id = ANY(${sql.array(ids, "int8")}) AND processed_at IS NULL
    `);
    // The engine is woken for the rows this call classified (not those another worker had done).
    const done = new Set(inserted.map((row) => row.raw_id));
    const tickers = new Set(options.rows.filter((row) => done.has(row.rawId)).flatMap((row) => row.tickers));
    return { inserted: inserted.length, tickers: [...tickers].sort() };
  });
}

/**
 * The local engine wake-up (engine-waker.ts): `pg_notify` on the classified-events channel with
 * the tickers space-joined, or an empty payload ("every ticker") when they would not fit.
 */
export async function notifyClassified(db: CommonQueryMethods, tickers: readonly string[]): Promise<void> {
  const list = [...tickers].sort().join(" ");
  const payload = Buffer.byteLength(list) <= CLASSIFIED_EVENTS_MAX_PAYLOAD_BYTES ? list : "";
  await db.query(sql.unsafe`SELECT pg_notify(${CLASSIFIED_EVENTS_CHANNEL}, ${payload})`);
}

/**
 * Records a failure for rows this worker holds: the lease is cleared so they can be claimed
 * again at once, and a row on its last allowed attempt is parked with the error instead.
 * Returns the ids that were parked.
 */
export async function failRows(
  db: CommonQueryMethods,
  options: { worker: string; now: Date; ids: readonly number[]; error: string; maxAttempts: number },
): Promise<number[]> {
  if (options.ids.length === 0) return [];
  const rows = await db.any(sql.type(z.object({ id: z.number().int(), parked: z.boolean() }))`
    UPDATE inbound_events_raw
    SET last_error = left(${options.error}, 2000),
        parked_at = CASE WHEN attempts >= ${options.maxAttempts} THEN ${ts(options.now)} END,
        claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL
    WHERE id = ANY(${sql.array(options.ids, "int8")})
      AND claimed_by = ${options.worker} AND processed_at IS NULL
    RETURNING id, parked_at IS NOT NULL AS parked
  `);
  return rows.filter((row) => row.parked).map((row) => row.id);
}

/**
 * Gives rows back without counting the attempt against them (the worker is stopping, not the
 * row failing), so another worker can take them at once instead of waiting out the lease.
 */
export async function releaseRows(
  db: CommonQueryMethods,
  options: { worker: string; ids: readonly number[] },
): Promise<number> {
  if (options.ids.length === 0) return 0;
  const result = await db.query(sql.unsafe`
    UPDATE inbound_events_raw
    SET claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
        attempts = greatest(attempts - 1, 0)
    WHERE id = ANY(${sql.array(options.ids, "int8")})
      AND claimed_by = ${options.worker} AND processed_at IS NULL
  `);
  return result.rowCount;
}
