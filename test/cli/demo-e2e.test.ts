import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { createDatabase, dropDatabase } from "../helpers/db.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");

interface Counts {
  classified: number;
  recommendations: number;
  executions: number;
}

async function readCounts(client: pg.Client): Promise<Counts> {
  const result = await client.query<{ classified: string; recommendations: string; executions: string }>(`
    SELECT (SELECT count(*) FROM inbound_events_classified) AS classified,
           (SELECT count(*) FROM dispatch_recommendations) AS recommendations,
           (SELECT count(*) FROM dispatch_executions WHERE executor = 'dry-run') AS executions`);
  const row = result.rows[0];
  if (!row) throw new Error("count query returned no row");
  return {
    classified: Number(row.classified),
    recommendations: Number(row.recommendations),
    executions: Number(row.executions),
  };
}

interface StatusJson {
  health: { stages: { stage: string; message: string }[] };
  snapshot: { executionsToday: number };
}

describe("opsctl dev --demo, end to end @slow [spawned]", function () {
  this.timeout(150_000);
  let work: string;
  let database: { name: string; url: string };

  before(async () => {
    if (!existsSync(path.join(ROOT, "dist", "cli", "opsctl.js"))) {
      const built = spawnSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], {
        cwd: ROOT,
        stdio: "inherit",
      });
      assert.equal(built.status, 0, "build failed");
    }
    work = await mkdtemp(path.join(os.tmpdir(), "ops-demo-e2e-"));
    // The data folder's parent must be searchable by the embedded server's user (as in dev.test.ts).
    await chmod(work, 0o755);
    database = await createDatabase({ migrated: true });
  });
  after(async () => {
    await dropDatabase(database.name);
    await rm(work, { recursive: true, force: true });
  });

  it("turns the sample day into classified events, recommendations and dry-run executions, offline, then stops cleanly on SIGINT", async () => {
    const child = spawn(process.execPath, [BIN, "dev", "--demo", "--no-dashboard"], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        OPS_DATA_DIR: path.join(work, "data"),
        LOG_FORMAT: "json",
        NO_COLOR: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderrTail = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString("utf8")).slice(-8_000);
    });
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const started = Date.now();
    let counts: Counts = { classified: 0, recommendations: 0, executions: 0 };
    let fetched: string[] = [];
    let firstRecommendation: number | undefined;
    let statusReport: StatusJson | undefined;
    try {
      while (Date.now() - started < 90_000 && child.exitCode === null) {
        counts = await readCounts(client);
        if (counts.classified > 0 && counts.recommendations > 0 && counts.executions > 0) break;
        await delay(1_000);
      }
      // Only the demo feed was fetched: the seeded real feeds would fail offline and alert.
      const feeds = await client.query<{ name: string }>(`
        SELECT DISTINCT f.name FROM feed_state s JOIN feeds f ON f.id = s.feed_id
        WHERE s.last_status IS NOT NULL OR s.last_error IS NOT NULL`);
      fetched = feeds.rows.map((row) => row.name);
      const recs = await client.query<{ id: string }>(
        "SELECT id FROM dispatch_recommendations ORDER BY id LIMIT 1",
      );
      firstRecommendation = recs.rows[0] ? Number(recs.rows[0].id) : undefined;
      // While the demo runs, status judges it by the demo clock that stamps its rows (issue 18.1).
      if (counts.executions > 0) {
        const status = spawnSync(process.execPath, [BIN, "status", "--json"], {
          cwd: ROOT,
          env: { ...process.env, DATABASE_URL: database.url, OPS_DATA_DIR: path.join(work, "data") },
          encoding: "utf8",
        });
        statusReport = JSON.parse(status.stdout) as StatusJson;
      }
    } finally {
      await client.end();
      if (child.exitCode === null) child.kill("SIGINT");
    }
    const code = await exited;
    assert.ok(
      counts.classified > 0 && counts.recommendations > 0 && counts.executions > 0,
      `after ${Math.round((Date.now() - started) / 1000)} s: ${JSON.stringify(counts)}\n${stderrTail}`,
    );
    assert.deepEqual(fetched, ["ops-pipeline demo"]);
    assert.ok(statusReport, "status --json answered while the demo ran");
    const silent = statusReport.health.stages.filter((stage) => /silent for \d+d/.test(stage.message));
    assert.deepEqual(silent, [], "no stage is judged silent for days by the wall clock");
    assert.ok(statusReport.snapshot.executionsToday > 0, "executions today counts the demo day's");
    assert.equal(code, 0, `dev --demo exited ${code}\n${stderrTail}`);

    // recs show explains a recommendation the real engine wrote: its headlines, found by title.
    const shown = spawnSync(process.execPath, [BIN, "recs", "show", String(firstRecommendation), "--json"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url, OPS_DATA_DIR: path.join(work, "data") },
      encoding: "utf8",
    });
    assert.equal(shown.status, 0, shown.stderr);
    const explanation = JSON.parse(shown.stdout) as {
      headlines: { title: string | null; score: number }[];
      thresholds: Record<string, unknown>;
    };
    assert.ok(explanation.headlines.length >= 2, shown.stdout);
    for (const headline of explanation.headlines) {
      assert.ok(headline.title, `a headline without its title: ${shown.stdout}`);
      assert.equal(typeof headline.score, "number");
    }
    assert.equal(typeof explanation.thresholds.minEvents, "number");
  });
});
