import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { MIGRATIONS_DIR } from "../../services/common/migrator.ts";
import { useTestDatabase } from "../helpers/db.ts";

// sql/0061 rewrites stored tickers to the canonical share-class notation. The template database
// has every migration applied already; rows written in the old notation afterwards are what a
// database that ran sortation before 0061 holds, so running the file's text again over them
// checks the rewrite itself.
const MIGRATION = readFileSync(path.join(MIGRATIONS_DIR, "0061_share_class_notation.sql"), "utf8");

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function runMigration(client: pg.Client): Promise<void> {
  await client.query("BEGIN");
  try {
    await client.query(MIGRATION);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  }
}

describe("migration 0061: one share-class notation", () => {
  const db = useTestDatabase();

  it("rewrites BRK-B to BRK.B in every table that holds tickers, keeping order and one bar per time", async () => {
    await withClient(db.url, async (client) => {
      const raw = await client.query(`
        INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at)
        VALUES ('m-1', 'Berkshire', now(), now()) RETURNING id`);
      const rawId = raw.rows[0].id as string;
      await client.query(
        `INSERT INTO inbound_events_classified (raw_id, label, p_positive, p_negative, p_neutral, score,
           classifier, model_id, tickers, published_at)
         VALUES ($1, 'neutral', 0.1, 0.1, 0.8, 0, 'lexicon', 'm', '{AAPL,BRK-B,BRK.B,BF/B}', now())`,
        [rawId],
      );
      await client.query(`
        INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, source) VALUES
          ('BRK-B', '2026-01-05T14:00:00Z', 1, 1, 1, 1, 'old'),
          ('BRK.B', '2026-01-05T14:00:00Z', 2, 2, 2, 2, 'new'),
          ('BRK-B', '2026-01-05T14:05:00Z', 3, 3, 3, 3, 'old')`);
      await client.query(`
        INSERT INTO dispatch_recommendations (ticker, side, as_of, cooldown_until, rule_version, sentiment,
          event_count, close, sma20, threshold, inputs)
        VALUES ('BRK-B', 'BUY', now(), now() + interval '1 hour', 'r', 0.5, 1, 10, 9, 0.2, '{}')`);
      await client.query(`
        INSERT INTO params (key, value, updated_by) VALUES ('watchlist', '["MSFT", "brk-b", "BRK.B", "AAPL"]', 'test')
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`);

      await runMigration(client);

      const classified = await client.query(
        "SELECT tickers FROM inbound_events_classified WHERE raw_id = $1",
        [rawId],
      );
      assert.deepEqual(classified.rows[0].tickers, ["AAPL", "BRK.B", "BF.B"]);
      const bars = await client.query("SELECT ticker, ts, source FROM lane_telemetry ORDER BY ts");
      assert.deepEqual(
        bars.rows.map((row) => [row.ticker, row.source]),
        [
          ["BRK.B", "new"],
          ["BRK.B", "old"],
        ],
      );
      const recs = await client.query("SELECT ticker FROM dispatch_recommendations");
      assert.deepEqual(
        recs.rows.map((row) => row.ticker),
        ["BRK.B"],
      );
      const watchlist = await client.query("SELECT value, updated_by FROM params WHERE key = 'watchlist'");
      assert.deepEqual(watchlist.rows[0].value, ["MSFT", "BRK.B", "AAPL"]);
      const audit = await client.query(
        "SELECT changed_by, old_value FROM param_audit WHERE key = 'watchlist'",
      );
      assert.deepEqual(audit.rows.at(-1), {
        changed_by: "migration 0061",
        old_value: ["MSFT", "brk-b", "BRK.B", "AAPL"],
      });
    });
  });

  it("stops, changing nothing, when one account holds a company under both spellings", async () => {
    await withClient(db.url, async (client) => {
      await client.query(`
        INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
        VALUES ('dry-run', 1000, 1000, now(), now()) ON CONFLICT DO NOTHING`);
      await client.query(`
        INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at) VALUES
          ('dry-run', 'BF-B', 1, 10, now(), now()), ('dry-run', 'BF.B', 2, 11, now(), now())`);
      await client.query("UPDATE dispatch_recommendations SET ticker = 'BRK-B'");
      await assert.rejects(runMigration(client), /two share-class spellings/);
      const recs = await client.query("SELECT ticker FROM dispatch_recommendations");
      assert.equal(recs.rows[0].ticker, "BRK-B");
    });
  });
});
