import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import * as z from "zod";
import { sql } from "../../services/common/db.ts";
import { useTestDatabase } from "../helpers/db.ts";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function opsctl(url: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "cli/src/main.ts", ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: "silent", NO_COLOR: "1", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("opsctl feeds interval and add --interval (issue 16.3), local target", function () {
  this.timeout(60_000);
  const db = useTestDatabase();
  const setting = (url: string) =>
    db.pool.maybeOneFirst(
      sql.type(z.object({ poll_interval_ms: z.number().nullable() }))`
        SELECT poll_interval_ms FROM feeds WHERE url = ${url}`,
    );

  it("adds a feed with --interval, sets and clears it, and lists the interval with its source", async () => {
    const url = "https://example.com/cli-interval.rss";
    const added = await opsctl(db.url, ["feeds", "add", url, "--name", "cli", "--interval", "2m", "--json"]);
    assert.equal(added.code, 0, added.stderr);
    const feed = (JSON.parse(added.stdout) as { feed: { id: number; operator_interval_ms: number } }).feed;
    assert.equal(feed.operator_interval_ms, 120_000);
    assert.equal(await setting(url), 120_000);

    const set = await opsctl(db.url, ["feeds", "interval", String(feed.id), "30s"]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /polled every 30s \(operator\)/);
    assert.match(set.stdout, /below 1m only takes effect on a local stack: on AWS ingest runs every 1m/);
    assert.equal(await setting(url), 30_000);

    // The list shows what the last fetch scheduled with, and a setting the next fetch will use.
    await db.pool.query(sql.unsafe`
      INSERT INTO feed_state (feed_id, feed_ttl_ms, poll_interval_ms, poll_interval_source)
      VALUES (${feed.id}, 900000, 900000, 'ttl')`);
    const listed = await opsctl(db.url, ["feeds", "list"]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /interval 15m \(ttl\); operator set 30s, from the next fetch/);
    const listedJson = JSON.parse((await opsctl(db.url, ["feeds", "list", "--json"])).stdout) as {
      feeds: {
        id: number;
        operator_interval_ms: number | null;
        interval_ms: number;
        interval_source: string;
      }[];
    };
    assert.deepEqual(
      listedJson.feeds
        .filter((row) => row.id === feed.id)
        .map(({ operator_interval_ms, interval_ms, interval_source }) => ({
          operator_interval_ms,
          interval_ms,
          interval_source,
        })),
      [{ operator_interval_ms: 30_000, interval_ms: 900_000, interval_source: "ttl" }],
    );

    const cleared = await opsctl(db.url, ["feeds", "interval", String(feed.id), "default", "--json"]);
    assert.equal(cleared.code, 0, cleared.stderr);
    const change = JSON.parse(cleared.stdout) as {
      feed: { operator_interval_ms: number | null };
      effective: { intervalMs: number; source: string };
      awsIngestEveryMs: number;
    };
    assert.equal(change.feed.operator_interval_ms, null);
    assert.equal(await setting(url), null);
    assert.equal(change.awsIngestEveryMs, 60_000);
    // The feed's own cadence decides again: the interval its <ttl> last gave.
    assert.deepEqual(change.effective, { intervalMs: 900_000, source: "ttl" });
  });

  it("refuses a bad duration and one outside the deployment's bounds with exit 2, changing nothing", async () => {
    const url = "https://example.com/cli-bounds.rss";
    const added = await opsctl(db.url, ["feeds", "add", url, "--name", "bounds", "--json"]);
    assert.equal(added.code, 0, added.stderr);
    const id = String((JSON.parse(added.stdout) as { feed: { id: number } }).feed.id);

    const bad = await opsctl(db.url, ["feeds", "interval", id, "fast", "--json"]);
    assert.equal(bad.code, 2);
    assert.equal((JSON.parse(bad.stdout) as { error: { code: string } }).error.code, "USAGE");

    const tooFast = await opsctl(db.url, ["feeds", "interval", id, "5s"]);
    assert.equal(tooFast.code, 2);
    assert.match(tooFast.stderr, /must be from 10s to 1h on this deployment, not 5s/);
    assert.match(tooFast.stderr, /OPS_INBOUND_POLL_FLOOR_MS/);

    // The bounds are the target's configuration, not fixed in the command.
    const narrowed = await opsctl(db.url, ["feeds", "interval", id, "2h", "--json"], {
      OPS_INBOUND_POLL_CEILING_MS: String(3 * 3_600_000),
    });
    assert.equal(narrowed.code, 0, narrowed.stderr);
    assert.equal(await setting(url), 2 * 3_600_000);
    const tooSlow = await opsctl(db.url, ["feeds", "interval", id, "4h", "--json"], {
      OPS_INBOUND_POLL_CEILING_MS: String(3 * 3_600_000),
    });
    assert.equal(tooSlow.code, 2);
    assert.match((JSON.parse(tooSlow.stdout) as { error: { message: string } }).error.message, /10s to 3h/);
    assert.equal(await setting(url), 2 * 3_600_000);

    const addTooFast = await opsctl(db.url, [
      "feeds",
      "add",
      "https://example.com/cli-too-fast.rss",
      "--interval",
      "1s",
      "--json",
    ]);
    assert.equal(addTooFast.code, 2);
    assert.equal(await setting("https://example.com/cli-too-fast.rss"), null);
    assert.equal(
      await db.pool.maybeOneFirst(
        sql.type(
          z.object({ id: z.number() }),
        )`SELECT id FROM feeds WHERE url = 'https://example.com/cli-too-fast.rss'`,
      ),
      null,
      "a refused interval adds no feed",
    );

    const missing = await opsctl(db.url, ["feeds", "interval", "999999", "30s", "--json"]);
    assert.equal(missing.code, 2);
    assert.equal((JSON.parse(missing.stdout) as { error: { code: string } }).error.code, "FEED_NOT_FOUND");
  });
});
