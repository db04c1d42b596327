import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { FakeClock } from "../../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../../services/common/db.ts";
import { STAGE_TABLE } from "../../services/common/stages.ts";
import { handleOperation } from "../../services/ops-api/operations.ts";
import { insertRecommendations as insertRecommendationRows, recommendation } from "../helpers/builders.ts";
import { createDatabase, dropDatabase, TEST_POOL_OPTIONS } from "../helpers/db.ts";
import { FAKE_AWS_ENV, type FakeAws, startFakeAws } from "./helpers/fake-aws.ts";
import { insertRecommendations, seedTradingDay } from "./helpers/seed.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("the built opsctl binary", function () {
  this.timeout(120_000);
  let database: { name: string; url: string };
  let pool: DatabasePool;
  let cwd: string;

  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH ?? "",
    HOME: os.homedir(),
    DATABASE_URL: database.url,
    OPS_DATA_DIR: path.join(cwd, ".ops"),
    NO_COLOR: "1",
    ...extra,
  });
  // Asynchronous on purpose: the fake AWS server in this process must keep answering meanwhile.
  const opsctl = (args: string[], extra: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd, env: env(extra), timeout: 60_000 });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  const json = (run: Run) => {
    try {
      return JSON.parse(run.stdout) as Record<string, unknown>;
    } catch {
      assert.fail(`stdout is not JSON (exit ${run.code}): ${run.stdout}\nstderr: ${run.stderr}`);
    }
  };

  before(async () => {
    const build = spawnSync(
      process.execPath,
      [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), "scripts/build.ts"],
      {
        cwd: ROOT,
        encoding: "utf8",
      },
    );
    assert.equal(build.status, 0, build.stderr);
    database = await createDatabase({ migrated: true });
    pool = await connectDatabase({ url: database.url, ...TEST_POOL_OPTIONS });
    cwd = await mkdtemp(path.join(os.tmpdir(), "opsctl-bin-"));
  });
  after(async () => {
    await closeDatabase(pool);
    await dropDatabase(database.name);
    await rm(cwd, { recursive: true, force: true });
  });

  it("prints help with examples for every command and subcommand, exiting 0", async () => {
    // Every command's help is checked in-process (test/cli/program.test.ts); here the binary itself.
    for (const args of [[], ["status"], ["recs", "show"]]) {
      const run = await opsctl([...args, "--help"]);
      assert.equal(run.code, 0, `${args.join(" ")} --help: ${run.stderr}`);
      assert.match(run.stdout, /Usage: opsctl/);
      if (args.length > 0) assert.match(run.stdout, /Examples?:/, `${args.join(" ")} --help has examples`);
    }
  });

  it("status --json on an empty stack warns (exit 3) that no stage ran yet, with the documented shape", async () => {
    const run = await opsctl(["status", "--json"]);
    assert.equal(run.code, 3, run.stderr);
    const report = json(run);
    assert.equal(report.schemaVersion, 2);
    // One time format (ISO 8601) and one shape per field: no epoch-ms times, paperPnl object or null.
    const snapshot = report.snapshot as { paperPnl: unknown; newest: Record<string, unknown> };
    assert.ok(snapshot.paperPnl === null || typeof snapshot.paperPnl === "object");
    for (const value of Object.values(snapshot.newest))
      assert.ok(value === null || typeof value === "string");
    assert.equal(report.target, "local");
    const health = report.health as {
      level: string;
      stages: { stage: string; level: string; message: string }[];
    };
    assert.equal(health.level, "WARN");
    assert.ok(health.stages.every((stage) => /never seen/.test(stage.message)));
    // Never seen is each stage's table level: WARN, OK for the local-only engine event loop.
    assert.deepEqual(
      health.stages.map((stage) => stage.level),
      health.stages.map(
        (stage) => STAGE_TABLE[stage.stage as keyof typeof STAGE_TABLE].freshness.missingLevel,
      ),
    );
    assert.equal(report.dryRun, true);
    assert.deepEqual(Object.keys(report).sort(), [
      "at",
      "dryRun",
      "dryRunWindow",
      "health",
      "killSwitch",
      "schemaVersion",
      "snapshot",
      "target",
      "trading",
    ]);
  });

  it("recs --pending --json and recs show --json read what the engine stored", async () => {
    const { recommendationId } = await seedTradingDay(pool, new Date());
    const list = json(await opsctl(["recs", "--pending", "--json"]));
    assert.equal(list.total, 1);
    assert.equal((list.recommendations as { id: number }[])[0]?.id, recommendationId);
    const shown = await opsctl(["recs", "show", String(recommendationId), "--json"]);
    assert.equal(shown.code, 0, shown.stderr);
    const explanation = json(shown) as {
      headlines: { title: string; tickers: unknown[] }[];
      inputsParsed: boolean;
    };
    assert.equal(explanation.inputsParsed, true);
    assert.equal(explanation.headlines.length, 3);
    assert.deepEqual(explanation.headlines[0]?.tickers, [{ ticker: "ACME", via: "name", text: "Acme" }]);
    const plain = await opsctl(["recs", "show", String(recommendationId)]);
    assert.match(plain.stdout, /close \(\*\) vs SMA20/);
    assert.match(plain.stdout, /tickers ACME \(name "Acme"\)/);
    assert.ok(!plain.stdout.includes("\u001b["), "no ANSI escapes in a pipe");
  });

  it("recs show of a missing id exits 2 with an operator error in JSON", async () => {
    const run = await opsctl(["recs", "show", "987654", "--json"]);
    assert.equal(run.code, 2);
    assert.deepEqual((json(run).error as { code: string }).code, "REC_NOT_FOUND");
  });

  it("status exits 3 when a stage went quiet and 4 when an alert is at ERROR", async () => {
    await pool.query(sql.unsafe`
      INSERT INTO stage_heartbeats (stage, instance, beat_at, last_success_at) VALUES ('dispatch-engine', 'x', now() - interval '20 minutes', now() - interval '20 minutes')`);
    const warn = await opsctl(["status", "--json"]);
    assert.equal(warn.code, 3, warn.stdout);
    assert.equal((json(warn).health as { level: string }).level, "WARN");
    const plain = await opsctl(["status"]);
    assert.equal(plain.code, 3);
    assert.match(plain.stdout, /dispatch-engine\s+success 20min old \(WARN after 15min\)/);
    await pool.query(sql.unsafe`
      INSERT INTO watchdog_state (check_key, level, since, last_evaluated_at, message) VALUES ('freshness.raw', 'ERROR', now(), now(), 'no events for 2h')`);
    assert.equal((await opsctl(["status", "--json"])).code, 4);
    await pool.query(sql.unsafe`DELETE FROM watchdog_state`);
    await pool.query(sql.unsafe`DELETE FROM stage_heartbeats WHERE stage = 'dispatch-engine'`);
  });

  it("dry-run off refuses without a terminal and --yes, then works with --yes and is audited", async () => {
    const refused = await opsctl(["dry-run", "off"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /no terminal/);
    assert.match(refused.stderr, /next: .*--yes/);
    assert.equal(json(await opsctl(["dry-run", "status", "--json"])).value, true);
    const off = await opsctl(["dry-run", "off", "--yes", "--json", "--reason", "binary test"]);
    assert.equal(off.code, 0, off.stderr);
    assert.deepEqual([json(off).changed, json(off).newValue, json(off).store], [true, false, "postgres"]);
    assert.equal(json(await opsctl(["dry-run", "status", "--json"])).value, false);
    assert.equal((await opsctl(["dry-run", "on"])).code, 0);
    const audit = json(await opsctl(["params", "audit", "--json"])) as {
      entries: { key: string; newValue: unknown; reason: string | null }[];
    };
    assert.deepEqual(
      audit.entries.filter((entry) => entry.key === "dry-run").map((entry) => [entry.newValue, entry.reason]),
      [
        [true, null],
        [false, "binary test"],
      ],
    );
  });

  it("dry-run off --for sets a deadline before turning the broker on, status shows it, on clears it; bad durations exit 2", async () => {
    const bad = await opsctl(["dry-run", "off", "--for", "90", "--yes"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--for.*whole minutes, hours or days/);
    assert.equal((await opsctl(["dry-run", "on", "--for", "2h", "--json"])).code, 2);
    const before = Date.now();
    const off = await opsctl(["dry-run", "off", "--for", "2h", "--yes", "--json"]);
    assert.equal(off.code, 0, off.stderr);
    const until = Date.parse(String(json(off).until));
    assert.ok(until >= before + 7_200_000 && until <= Date.now() + 7_200_000, String(json(off).until));
    const status = json(await opsctl(["dry-run", "status", "--json"])) as {
      value: boolean;
      inEffect: boolean;
      window: { until: string; remainingMs: number; expired: boolean };
    };
    assert.deepEqual([status.value, status.inEffect, status.window.expired], [false, false, false]);
    assert.ok(status.window.remainingMs > 7_000_000);
    assert.match(
      (await opsctl(["status"])).stdout,
      /dry-run OFF \(live orders\) until \S+ \((?:1h59m|2h00m) left\)/,
    );
    assert.equal((await opsctl(["dry-run", "on"])).code, 0);
    const audit = json(await opsctl(["params", "audit", "--json", "--limit", "4"])) as {
      entries: { key: string; newValue: unknown }[];
    };
    // Newest first: on, then the deadline cleared; before them the deadline, then off.
    assert.deepEqual(
      audit.entries.map((entry) => [entry.key, entry.newValue === null ? null : typeof entry.newValue]),
      [
        ["dry-run-until", null],
        ["dry-run", "boolean"],
        ["dry-run", "boolean"],
        ["dry-run-until", "string"],
      ],
    );
  });

  it("kill-switch on records who and why; params set validates and rejects bad values with exit 2", async () => {
    const on = json(await opsctl(["kill-switch", "on", "--reason", "broker down", "--json"]));
    assert.deepEqual((on.newValue as { engaged: boolean; reason: string }).reason, "broker down");
    assert.equal((await opsctl(["status", "--json"])).code, 3, "an engaged kill switch is a warning");
    assert.equal((await opsctl(["kill-switch", "off", "--json"])).code, 0);
    const bad = await opsctl(["params", "set", "max-trades-per-day", "-3", "--json"]);
    assert.equal(bad.code, 2);
    assert.equal((json(bad).error as { code: string }).code, "PARAM_INVALID");
    const unknown = await opsctl(["params", "set", "no-such-key", "1"]);
    assert.equal(unknown.code, 2);
    const list = json(await opsctl(["params", "list", "--json"])) as { params: { key: string }[] };
    assert.ok(list.params.some((param) => param.key === "watchlist"));
  });

  it("an unreachable database is an operator error naming what to fix", async () => {
    const run = await opsctl(["status"], { DATABASE_URL: "postgres://nobody:x@127.0.0.1:1/none" });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /cannot connect to the database/);
    assert.match(run.stderr, /next: /);
    assert.doesNotMatch(run.stderr, /:x@/, "the password is not printed");
  });

  it("recs --follow in a pipe prints new rows as plain lines as they are created", async () => {
    const child: ChildProcess = spawn(process.execPath, [BIN, "recs", "--follow", "--interval-ms", "200"], {
      cwd,
      env: env(),
    });
    let stdout = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const waitFor = async (pattern: RegExp) => {
      for (let i = 0; i < 200 && !pattern.test(stdout); i++)
        await new Promise((resolve) => setTimeout(resolve, 50));
      assert.match(stdout, pattern);
    };
    await waitFor(/ACME/);
    const asOf = new Date();
    await insertRecommendationRows(pool, [
      recommendation({
        ticker: "NEWT",
        side: "SELL",
        asOf,
        cooldownUntil: new Date(asOf.getTime() + 3_600_000),
        ruleVersion: "v1",
        sentiment: -0.7,
        eventCount: 2,
        close: 50,
        sma20: 52,
      }),
    ]);
    await waitFor(/NEWT\s+SELL\s+PENDING/);
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.doesNotMatch(stdout, /following/, "no live status line in a pipe");
  });

  it("positions, orders --open and recs approve|reject (--json and plain) on a seeded stack; a decision is made once", async () => {
    const now = new Date();
    const at = sql.timestamp(now);
    await pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
      VALUES ('dry-run', 100000, 99000, ${at}, ${at}) ON CONFLICT (account) DO NOTHING`);
    await pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('dry-run', 'BINP', 10, 100, ${at}, ${at})`);
    await pool.query(sql.unsafe`
      INSERT INTO dispatch_orders (broker_order_id, account, client_order_id, ticker, side, quantity, status, terminal,
        created_at, updated_at)
      VALUES ('bin-open', 'dry-run', 'bin-open', 'BINP', 'BUY', 5, 'accepted', false, ${at}, ${at}),
             ('bin-done', 'dry-run', 'bin-done', 'BINP', 'BUY', 10, 'filled', true, ${at}, ${at})`);
    const positions = json(await opsctl(["positions", "--account", "dry-run", "--json"]));
    assert.deepEqual(Object.keys(positions).sort(), ["asOf", "positions", "totals"]);
    const [line] = positions.positions as Record<string, unknown>[];
    assert.deepEqual(Object.keys(line ?? {}).sort(), [
      "account",
      "avgPrice",
      "costBasis",
      "exits",
      "lastPrice",
      "lastPriceAt",
      "marketValue",
      "openedAt",
      "quantity",
      "ticker",
      "unrealisedPct",
      "unrealisedPnl",
    ]);
    assert.deepEqual([line?.ticker, line?.lastPrice, line?.exits], ["BINP", null, null]);
    assert.match((await opsctl(["positions"])).stdout, /dry-run\s+BINP\s+10\s+100\.00 no close/);
    const open = json(await opsctl(["orders", "--open", "--json"])) as {
      orders: { brokerOrderId: string }[];
    };
    assert.deepEqual(
      open.orders.map((o) => o.brokerOrderId),
      ["bin-open"],
    );
    assert.equal((json(await opsctl(["orders", "--json"])) as { total: number }).total, 2);

    assert.equal((await opsctl(["params", "set", "require-approval", "true", "--yes"])).code, 0);
    const asOf = new Date(now.getTime() - 60_000);
    const [first, second, third] = await insertRecommendationRows(pool, [
      recommendation({ ticker: "APRA", asOf }),
      recommendation({ ticker: "APRB", asOf }),
      recommendation({ ticker: "APRC", asOf }),
    ]);
    const pending = json(await opsctl(["recs", "--pending", "--json"]));
    assert.deepEqual(pending.requireApproval, { enabled: true, maxRecommendationAgeSeconds: 900 });
    const shown = (pending.recommendations as { id: number; approval: unknown }[]).find(
      (r) => r.id === first,
    );
    assert.equal(shown?.approval, null);
    assert.match(
      (await opsctl(["recs", "--pending"])).stdout,
      new RegExp(`#${first} .*awaiting approval until`),
    );
    const approved = await opsctl(["recs", "approve", String(first), "--reason", "binary test", "--json"]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.deepEqual(
      [json(approved).decision, json(approved).status, json(approved).reason],
      ["approved", "PENDING", "binary test"],
    );
    assert.match(String(json(approved).by), /@/);
    const twice = await opsctl(["recs", "reject", String(first), "--json"]);
    assert.equal(twice.code, 2);
    assert.equal((json(twice).error as { code: string }).code, "REC_ALREADY_DECIDED");
    const rejected = await opsctl(["recs", "reject", String(second), "--reason", "no"]);
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.match(rejected.stdout, /REJECTED at gate approval/);
    // With dry-run off an approval moves money: no terminal and no --yes is refused.
    assert.equal((await opsctl(["dry-run", "off", "--yes"])).code, 0);
    const refused = await opsctl(["recs", "approve", String(third)]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /needs a typed confirmation[\s\S]*--yes/);
    assert.equal((await opsctl(["recs", "approve", String(third), "--yes", "--json"])).code, 0);
    assert.equal((await opsctl(["dry-run", "on"])).code, 0);
    assert.equal((await opsctl(["params", "set", "require-approval", "false"])).code, 0);
  });

  describe("--target aws (local servers speaking Lambda Invoke and SSM)", () => {
    let aws: FakeAws;
    before(async () => {
      const clock = new FakeClock(new Date());
      aws = await startFakeAws(async (_name, payload) => ({
        payload: await handleOperation(pool, clock, payload),
      }));
    });
    after(async () => aws.close());
    const awsEnv = () => ({
      ...FAKE_AWS_ENV,
      OPS_AWS_ENDPOINT_URL: aws.url,
      OPS_API_FUNCTION_NAME: "ops-pipeline-test-ops-api",
      OPS_PARAM_PREFIX: "/ops-pipeline/test",
      DATABASE_URL: "",
    });

    it("status and recs go through the ops-api function, parameters through SSM", async () => {
      await insertRecommendations(pool, 3);
      const status = await opsctl(["status", "--json", "--target", "aws"], awsEnv());
      assert.ok([0, 3, 4].includes(status.code ?? -1), `${status.code} ${status.stdout} ${status.stderr}`);
      assert.equal(json(status).target, "aws");
      const recs = json(await opsctl(["recs", "--pending", "--json", "--target", "aws"], awsEnv()));
      assert.ok((recs.total as number) >= 3);
      const off = await opsctl(["dry-run", "off", "--yes", "--json", "--target", "aws"], awsEnv());
      assert.equal(off.code, 0, off.stderr);
      assert.equal(json(off).store, "ssm");
      assert.equal(aws.parameters.get("/ops-pipeline/test/dry-run"), "false");
      const targets = new Set(aws.calls.map((call) => call.target));
      assert.ok(targets.has("Lambda.Invoke:ops-pipeline-test-ops-api"));
      assert.ok(targets.has("AmazonSSM.GetParametersByPath"));
    });

    it("feeds list and replay go through the ops-api, replay with the SSM parameters", async () => {
      const feeds = await opsctl(["feeds", "list", "--json", "--target", "aws"], awsEnv());
      assert.equal(feeds.code, 0, feeds.stderr);
      const listed = (json(feeds).feeds as { id: number; url: string }[]).map((feed) => feed.id);
      const stored = await pool.anyFirst(sql.unsafe`SELECT id FROM feeds ORDER BY id`);
      assert.deepEqual(listed, stored);
      aws.parameters.set("/ops-pipeline/test/sentiment-threshold", "0.9");
      const replay = await opsctl(
        ["replay", "--from", "2026-11-25T14:50Z", "--to", "2026-11-25T15:10Z", "--json", "--target", "aws"],
        awsEnv(),
      );
      assert.equal(replay.code, 0, replay.stderr);
      assert.equal((json(replay).params as { threshold: number }).threshold, 0.9);
      const ops = aws.calls
        .filter((call) => call.target === "Lambda.Invoke:ops-pipeline-test-ops-api")
        .map((call) => call.body as { op: string; params?: { threshold: number } });
      assert.ok(ops.some((call) => call.op === "feeds.list"));
      assert.equal(ops.find((call) => call.op === "replay")?.params?.threshold, 0.9);
    });

    it("feeds add --interval and feeds interval go through the ops-api, held to the stack's bounds", async () => {
      const added = await opsctl(
        [
          "feeds",
          "add",
          "https://example.com/aws-interval.rss",
          "--interval",
          "2m",
          "--json",
          "--target",
          "aws",
        ],
        awsEnv(),
      );
      assert.equal(added.code, 0, added.stderr);
      const id = (json(added).feed as { id: number; operator_interval_ms: number }).id;
      // opsctl's own environment does not widen the stack's floor: the ops-api checks with its own.
      const tooFast = await opsctl(["feeds", "interval", String(id), "5s", "--target", "aws"], {
        ...awsEnv(),
        OPS_INBOUND_POLL_FLOOR_MS: "1000",
      });
      assert.equal(tooFast.code, 2);
      assert.match(tooFast.stderr, /from 10s to 1h/);
      const set = await opsctl(["feeds", "interval", String(id), "30s", "--target", "aws"], awsEnv());
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /polled every 30s \(operator\)[\s\S]*on AWS ingest runs every 1m/);
      const stored = await pool.oneFirst(sql.unsafe`SELECT poll_interval_ms FROM feeds WHERE id = ${id}`);
      assert.equal(stored, 30_000);
      const ops = aws.calls
        .filter((call) => call.target === "Lambda.Invoke:ops-pipeline-test-ops-api")
        .map((call) => call.body as { op: string; intervalMs?: number | null });
      assert.ok(ops.some((call) => call.op === "feeds.interval" && call.intervalMs === 30_000));
    });

    it("positions, orders and recs approve go through the ops-api, the approval recorded with the caller", async () => {
      const positions = await opsctl(["positions", "--json", "--target", "aws"], awsEnv());
      assert.equal(positions.code, 0, positions.stderr);
      assert.ok(Array.isArray(json(positions).positions));
      const orders = await opsctl(["orders", "--open", "--json", "--target", "aws"], awsEnv());
      assert.equal(orders.code, 0, orders.stderr);
      const asOf = new Date(Date.now() - 60_000);
      const [id] = await insertRecommendationRows(pool, [recommendation({ ticker: "AWSA", asOf })]);
      // The stack's dry-run is off (SSM, set by the test above): without --yes it is refused.
      const refused = await opsctl(["recs", "approve", String(id), "--json", "--target", "aws"], awsEnv());
      assert.equal((json(refused).error as { code: string }).code, "CONFIRMATION_REQUIRED");
      const approved = await opsctl(
        ["recs", "approve", String(id), "--yes", "--json", "--target", "aws"],
        awsEnv(),
      );
      assert.equal(approved.code, 0, approved.stderr);
      // Lambda Invoke carries no verified caller: the operator's claim, marked unverified.
      assert.match(String(json(approved).by), /^unverified:.+@/);
      const ops = aws.calls
        .filter((call) => call.target === "Lambda.Invoke:ops-pipeline-test-ops-api")
        .map((call) => (call.body as { op: string }).op);
      for (const op of ["positions.list", "orders.list", "recs.approve"]) assert.ok(ops.includes(op), op);
    });

    it("close and reconcile go through the ops-api, the account judged from SSM's dry-run window", async () => {
      const at = sql.timestamp(new Date());
      await pool.query(sql.unsafe`
        INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
        VALUES ('alpaca-paper', 1000, 1000, ${at}, ${at}), ('dry-run', 1000, 1000, ${at}, ${at})
        ON CONFLICT (account) DO NOTHING`);
      await pool.query(sql.unsafe`
        INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
        VALUES ('alpaca-paper', 'AWSC', 4, 50, ${at}, ${at}), ('dry-run', 'AWSD', 2, 60, ${at}, ${at})`);
      // dry-run off in SSM, no window: the broker account.
      aws.parameters.set("/ops-pipeline/test/dry-run", "false");
      const live = await opsctl(["close", "AWSC", "--yes", "--json", "--target", "aws"], awsEnv());
      assert.equal(live.code, 0, live.stderr);
      assert.equal(json(live).account, "alpaca-paper");
      assert.match(String(json(live).by), /^unverified:.+@/);
      // A broker window that has ended: dry-run is in effect, whatever dry-run still says.
      aws.parameters.set("/ops-pipeline/test/dry-run-until", JSON.stringify("2020-01-01T00:00:00.000Z"));
      const windowEnded = await opsctl(["close", "AWSD", "--yes", "--json", "--target", "aws"], awsEnv());
      aws.parameters.delete("/ops-pipeline/test/dry-run-until");
      assert.equal(windowEnded.code, 0, windowEnded.stderr);
      assert.deepEqual(
        [json(windowEnded).account, (json(windowEnded).requested as { ticker: string }[])[0]?.ticker],
        ["dry-run", "AWSD"],
      );
      const notHeld = await opsctl(["close", "AWSD", "--yes", "--json", "--target", "aws"], awsEnv());
      assert.equal(notHeld.code, 2);
      assert.equal((json(notHeld).error as { code: string }).code, "NOT_HELD");
      assert.deepEqual(
        await pool.anyFirst(sql.unsafe`
          SELECT account || ':' || ticker FROM dispatch_exits WHERE ticker IN ('AWSC', 'AWSD') ORDER BY ticker`),
        ["alpaca-paper:AWSC", "dry-run:AWSD"],
      );

      await pool.query(sql.unsafe`
        INSERT INTO dispatch_reconcile_diffs (account, kind, subject, broker, pipeline, found_at, last_seen_at)
        VALUES ('alpaca-paper', 'open_order', 'awsb-1', NULL, ${sql.jsonb({ ticker: "AWSC" })}, ${at}, ${at})`);
      const report = await opsctl(["reconcile", "--json", "--target", "aws"], awsEnv());
      assert.equal(report.code, 0, report.stderr);
      assert.equal(json(report).tradingState, "reducing");
      assert.ok((json(report).differences as { subject: string }[]).some((d) => d.subject === "awsb-1"));
      const accepted = await opsctl(["reconcile", "--accept", "--json", "--target", "aws"], awsEnv());
      assert.equal(accepted.code, 0, accepted.stderr);
      assert.ok((json(accepted).accepted as { subject: string }[]).some((d) => d.subject === "awsb-1"));
      assert.match(
        String(
          await pool.oneFirst(
            sql.unsafe`SELECT accepted_by FROM dispatch_reconcile_diffs WHERE subject = 'awsb-1'`,
          ),
        ),
        /^unverified:.+@/,
      );
      const ops = aws.calls
        .filter((call) => call.target === "Lambda.Invoke:ops-pipeline-test-ops-api")
        .map((call) => (call.body as { op: string }).op);
      for (const op of ["exits.close", "reconcile.report", "reconcile.accept"])
        assert.ok(ops.includes(op), op);
    });

    it("refuses commands that act on this machine only, saying what to do instead", async () => {
      const run = await opsctl(["tickers", "refresh", "--from", "x.json", "--target", "aws"], awsEnv());
      assert.equal(run.code, 2);
      assert.match(run.stderr, /LOCAL_TARGET_ONLY|this machine only/);
      assert.match(run.stderr, /without --target aws/);
    });

    it("without the ops-api's URL or function name it says how to get one", async () => {
      const run = await opsctl(["status", "--target", "aws"], {
        ...awsEnv(),
        OPS_API_FUNCTION_NAME: "",
        OPS_API_URL: "",
      });
      assert.equal(run.code, 2);
      assert.match(run.stderr, /OPS_API_URL/);
      assert.match(run.stderr, /pulumi stack output --json/);
    });
  });
});
