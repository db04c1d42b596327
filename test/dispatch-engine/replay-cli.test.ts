import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { sql } from "../../services/common/db.ts";
import { createDatabase, dropDatabase, useTestDatabase } from "../helpers/db.ts";
import { seedCandles, seedEvent, trend } from "./fixtures.ts";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

async function opsctl(url: string, args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "cli/src/main.ts", ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: "silent" },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

describe("opsctl replay", () => {
  const db = useTestDatabase();
  const T = new Date("2026-11-25T15:00:00Z");
  const minutes = (m: number) => new Date(T.getTime() + m * 60_000);

  before(async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-30) });
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.6, publishedAt: minutes(-12) });
  });

  it("prints, as JSON, the recommendation the rule would have made and writes nothing", async () => {
    const { code, stdout } = await opsctl(db.url, [
      "replay",
      "--from",
      "2026-11-25T14:50Z",
      "--to",
      "2026-11-25T15:10Z",
      "--json",
    ]);
    assert.equal(code, 0);
    const out = JSON.parse(stdout) as {
      ticks: number;
      recommendations: { ticker: string; side: string; asOf: string }[];
    };
    // At 14:50 and 14:55 fewer than 20 candles have closed (the 20th, 14:55-15:00, closes at
    // 15:00); 15:00 signals; 15:05 and 15:10 are inside the 60-minute cooldown.
    assert.equal(out.ticks, 5);
    assert.deepEqual(
      out.recommendations.map((r) => [r.ticker, r.side, r.asOf]),
      [["ACME", "BUY", "2026-11-25T15:00:00.000Z"]],
    );
    const written = await db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM dispatch_recommendations`);
    assert.equal(written, 0);
  });

  it("recommends nothing under a threshold above the sentiment, saying so in plain text", async () => {
    const { code, stdout } = await opsctl(db.url, [
      "replay",
      "--from",
      "2026-11-25T14:50Z",
      "--to",
      "2026-11-25T15:10Z",
      "--threshold",
      "0.95",
    ]);
    assert.equal(code, 0);
    assert.equal(
      stdout.trim(),
      "0 recommendation(s) over 5 tick(s); 0 suppressed by the cooldown; nothing written",
    );
  });

  it("exits 2 with what to do on a reversed range", async () => {
    const { code, stdout } = await opsctl(db.url, [
      "replay",
      "--from",
      "2026-11-25T15:10Z",
      "--to",
      "2026-11-25T14:50Z",
      "--json",
    ]);
    assert.equal(code, 2);
    assert.equal((JSON.parse(stdout) as { error: { code: string } }).error.code, "REPLAY_RANGE");
  });

  it("on a database without the schema, says to migrate (exit 2) instead of reporting a bug", async () => {
    const empty = await createDatabase({ migrated: false });
    try {
      const { code, stdout } = await opsctl(empty.url, [
        "replay",
        "--from",
        "2026-11-25T14:50Z",
        "--to",
        "2026-11-25T15:10Z",
        "--json",
      ]);
      assert.equal(code, 2);
      assert.equal((JSON.parse(stdout) as { error: { code: string } }).error.code, "NOT_MIGRATED");
    } finally {
      await dropDatabase(empty.name);
    }
  });
});
