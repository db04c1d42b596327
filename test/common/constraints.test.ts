import assert from "node:assert/strict";
import {
  CheckExclusionConstraintViolationError,
  CheckIntegrityConstraintViolationError,
  type DatabasePool,
  sql,
  UniqueIntegrityConstraintViolationError,
} from "../../services/common/db.ts";
import { useTestDatabase } from "../helpers/db.ts";

async function rejects<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
  constraint: string,
) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.equal((error as unknown as { constraint: string }).constraint, constraint);
    return;
  }
  assert.fail(`expected ${constraint} to reject`);
}

async function insertRaw(pool: DatabasePool, uid: string): Promise<number> {
  return pool.oneFirst(sql.unsafe`
    INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at)
    VALUES (${uid}, 'Acme beats estimates', now(), now()) RETURNING id`) as Promise<number>;
}

async function insertRecommendation(
  pool: DatabasePool,
  fields: { ticker?: string; side?: string; asOf: string; cooldownUntil: string },
): Promise<number> {
  return pool.oneFirst(sql.unsafe`
    INSERT INTO dispatch_recommendations
      (ticker, side, status, as_of, cooldown_until, rule_version, sentiment, event_count, close, sma20, threshold, inputs)
    VALUES (${fields.ticker ?? "AAPL"}, ${fields.side ?? "BUY"}, 'PENDING',
            ${fields.asOf}::timestamptz, ${fields.cooldownUntil}::timestamptz, 'v1', 0.6, 3, 190.5, 189.2, 0.35, '{}')
    RETURNING id`) as Promise<number>;
}

describe("schema constraints", () => {
  const db = useTestDatabase();

  it("rejects a second raw event with the same event_uid", async () => {
    await insertRaw(db.pool, "guid:dup");
    await rejects(
      insertRaw(db.pool, "guid:dup"),
      UniqueIntegrityConstraintViolationError,
      "inbound_events_raw_event_uid_unique",
    );
  });

  it("rejects a second classified row for one raw event", async () => {
    const rawId = await insertRaw(db.pool, "guid:classified-twice");
    const classify = () =>
      db.pool.query(sql.unsafe`
        INSERT INTO inbound_events_classified
          (raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id, published_at)
        VALUES (${rawId}, 'positive', 0.8, 0.1, 0.1, 0.7, 'finbert', 'Xenova/finbert', now())`);
    await classify();
    await rejects(
      classify(),
      UniqueIntegrityConstraintViolationError,
      "inbound_events_classified_raw_unique",
    );
  });

  it("rejects a second execution for one recommendation", async () => {
    const id = await insertRecommendation(db.pool, {
      ticker: "MSFT",
      asOf: "2026-03-02T15:00Z",
      cooldownUntil: "2026-03-02T16:00Z",
    });
    const execute = (clientOrderId: string) =>
      db.pool.query(sql.unsafe`
        INSERT INTO dispatch_executions
          (recommendation_id, executor, client_order_id, ticker, side, quantity, price, notional, executed_at)
        VALUES (${id}, 'dry-run', ${clientOrderId}, 'MSFT', 'BUY', 2, 400, 800, now())`);
    await execute(`rec-${id}`);
    await rejects(
      execute(`rec-${id}-retry`),
      UniqueIntegrityConstraintViolationError,
      "dispatch_executions_recommendation_unique",
    );
  });

  it("rejects a recommendation inside the cooldown of the same ticker and side", async () => {
    await insertRecommendation(db.pool, {
      ticker: "NVDA",
      asOf: "2026-03-02T15:00Z",
      cooldownUntil: "2026-03-02T16:00Z",
    });
    await rejects(
      insertRecommendation(db.pool, {
        ticker: "NVDA",
        asOf: "2026-03-02T15:55Z",
        cooldownUntil: "2026-03-02T16:55Z",
      }),
      CheckExclusionConstraintViolationError,
      "dispatch_recommendations_cooldown",
    );
  });

  it("accepts the other side, another ticker, and the same side once the cooldown has passed", async () => {
    await insertRecommendation(db.pool, {
      ticker: "AMZN",
      asOf: "2026-03-02T15:00Z",
      cooldownUntil: "2026-03-02T16:00Z",
    });
    await insertRecommendation(db.pool, {
      ticker: "AMZN",
      side: "SELL",
      asOf: "2026-03-02T15:05Z",
      cooldownUntil: "2026-03-02T16:05Z",
    });
    await insertRecommendation(db.pool, {
      ticker: "META",
      asOf: "2026-03-02T15:05Z",
      cooldownUntil: "2026-03-02T16:05Z",
    });
    // The window is half-open: exactly at cooldown_until is allowed.
    await insertRecommendation(db.pool, {
      ticker: "AMZN",
      asOf: "2026-03-02T16:00Z",
      cooldownUntil: "2026-03-02T17:00Z",
    });
  });

  it("rejects an unknown recommendation status", async () => {
    const id = await insertRecommendation(db.pool, {
      ticker: "TSLA",
      asOf: "2026-03-03T15:00Z",
      cooldownUntil: "2026-03-03T16:00Z",
    });
    await rejects(
      db.pool.query(
        sql.unsafe`UPDATE dispatch_recommendations SET status = 'DONE', decided_at = now() WHERE id = ${id}`,
      ),
      CheckIntegrityConstraintViolationError,
      "dispatch_recommendations_status_known",
    );
  });

  it("rejects a REJECTED recommendation that does not name its gate", async () => {
    const id = await insertRecommendation(db.pool, {
      ticker: "SPY",
      asOf: "2026-03-04T15:00Z",
      cooldownUntil: "2026-03-04T16:00Z",
    });
    await rejects(
      db.pool.query(
        sql.unsafe`UPDATE dispatch_recommendations SET status = 'REJECTED', decided_at = now() WHERE id = ${id}`,
      ),
      CheckIntegrityConstraintViolationError,
      "dispatch_recommendations_rejected_names_gate",
    );
  });

  it("rejects an unknown classifier label and an out-of-range score", async () => {
    const rawId = await insertRaw(db.pool, "guid:bad-label");
    await rejects(
      db.pool.query(sql.unsafe`
        INSERT INTO inbound_events_classified
          (raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id, published_at)
        VALUES (${rawId}, 'bullish', 0.8, 0.1, 0.1, 0.7, 'finbert', 'm', now())`),
      CheckIntegrityConstraintViolationError,
      "inbound_events_classified_label_known",
    );
    await rejects(
      db.pool.query(sql.unsafe`
        INSERT INTO inbound_events_classified
          (raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id, published_at)
        VALUES (${rawId}, 'positive', 0.8, 0.1, 0.1, 1.5, 'finbert', 'm', now())`),
      CheckIntegrityConstraintViolationError,
      "inbound_events_classified_score_range",
    );
  });

  it("rejects an inconsistent candle (high below low)", async () => {
    await rejects(
      db.pool.query(sql.unsafe`
        INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
        VALUES ('AAPL', now(), 10, 9, 11, 10, 100, 'test')`),
      CheckIntegrityConstraintViolationError,
      "lane_telemetry_ohlc_consistent",
    );
  });
});
