import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { createDatabase, dropDatabase } from "../helpers/db.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");

/** The built CLI, as users run it (`npm test` builds it first; a lone run builds it here). */
function ensureBuilt(): void {
  if (!existsSync(path.join(ROOT, "dist", "cli", "opsctl.js"))) {
    const built = spawnSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], {
      cwd: ROOT,
      stdio: "inherit",
    });
    assert.equal(built.status, 0, "build failed");
  }
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_FORMAT: "json", NO_COLOR: "1", ...extra };
  if (!extra.DATABASE_URL) delete env.DATABASE_URL;
  return env;
}

function run(args: string[], env: Record<string, string>, cwd: string) {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: cleanEnv(env),
    encoding: "utf8",
    timeout: 60_000,
  });
}

/** Every running process whose command line mentions `needle` (a data folder, here). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; saw:\n${seen}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}; saw:\n${seen}`));
    });
  });
}

describe("opsctl dev (npm start)", function () {
  this.timeout(120_000);
  let work: string;

  before(ensureBuilt);
  beforeEach(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "ops-dev-test-"));
    // The embedded server runs as the postgres user when tests run as root: it must enter here.
    await chmod(work, 0o755);
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("reaches running on a fresh embedded database and stops cleanly on SIGINT, leaving no postgres behind", async () => {
    const dataDir = path.join(work, "state");
    const child = spawn(process.execPath, [BIN, "dev"], {
      cwd: ROOT,
      env: cleanEnv({ OPS_DATA_DIR: dataDir }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await waitForOutput(child, /ops-pipeline running/, 90_000);
    assert.ok(processesMentioning(dataDir).length > 0, "the embedded server runs while dev runs");
    assert.ok(
      existsSync(path.join(dataDir, "runtime.json")),
      "dev tells other opsctl commands where its server is",
    );
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.deepEqual(processesMentioning(dataDir), [], "no postgres process left behind");
    assert.ok(!existsSync(path.join(dataDir, "runtime.json")));
    // Data survives between runs: migrate (a write, so it may start a temporary server on the
    // stopped stack's cluster) finds the schema already applied.
    const migrated = run(["migrate", "--json"], { OPS_DATA_DIR: dataDir }, ROOT);
    assert.equal(migrated.status, 0, migrated.stderr);
    assert.deepEqual((JSON.parse(migrated.stdout) as { applied: string[] }).applied, []);
    assert.deepEqual(processesMentioning(dataDir), [], "the temporary server is stopped");
  });

  it("passes a signal sent to the launcher on to opsctl when an older Node re-executes it on Node 24", async function () {
    // The machine's own Node (20 here) runs the launcher, which starts the repository's Node 24.
    const systemNode = "/usr/bin/node";
    const version = existsSync(systemNode)
      ? spawnSync(systemNode, ["-p", "process.versions.node"], { encoding: "utf8" })
      : null;
    if (!version || Number(version.stdout.split(".")[0]) >= 24) this.skip();
    const dataDir = path.join(work, "state");
    const child = spawn(systemNode, [BIN, "dev"], {
      cwd: ROOT,
      env: cleanEnv({ OPS_DATA_DIR: dataDir }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await waitForOutput(child, /ops-pipeline running/, 90_000);
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.deepEqual(processesMentioning(dataDir), [], "neither opsctl nor its postgres is left behind");
  });

  it("says in one line that the database cannot be reached, and exits 2", () => {
    const result = run(["migrate"], { DATABASE_URL: "postgres://app:hunter2@127.0.0.1:1/nowhere" }, ROOT);
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /^opsctl: cannot connect to the database at postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/nowhere/m,
    );
    assert.match(result.stderr, /next: .*DATABASE_URL/);
    assert.ok(!result.stderr.includes("hunter2"));
    assert.ok(!/\n\s+at /.test(result.stderr), "an operator error shows no stack trace");
  });

  it("names a port that is already in use", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const result = run(
        ["dev", "--no-dashboard"],
        { OPS_DATA_DIR: path.join(work, "state"), OPS_PG_PORT: String(port) },
        ROOT,
      );
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`port ${port} is already in use`));
      assert.deepEqual(processesMentioning(path.join(work, "state")), []);
    } finally {
      blocker.close();
    }
  });

  it("refuses a data folder made by another PostgreSQL version, saying what to do", async () => {
    const pgdata = path.join(work, "state", "pgdata");
    await mkdir(pgdata, { recursive: true });
    await writeFile(path.join(pgdata, "PG_VERSION"), "11\n");
    const result = run(["dev", "--no-dashboard"], { OPS_DATA_DIR: path.join(work, "state") }, ROOT);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /was made by PostgreSQL 11; the embedded server is PostgreSQL \d+/);
    assert.match(result.stderr, /next: move that folder aside/);
  });

  it("refuses to migrate when an applied migration's file is missing, naming it, and changes nothing", async () => {
    const db = await createDatabase({ migrated: true });
    try {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query(
        "INSERT INTO schema_migrations (version, filename, checksum) VALUES (9999, '9999_gone.sql', 'x')",
      );
      await client.end();
      const result = run(["migrate", "--json"], { DATABASE_URL: db.url }, ROOT);
      assert.equal(result.status, 2);
      const error = (JSON.parse(result.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, "MIGRATION_FILE_MISSING");
      assert.match(error.message, /9999_gone\.sql/);
    } finally {
      await dropDatabase(db.name);
    }
  });

  it("rejects an unknown flag with exit code 2 and the usage hint", () => {
    const result = run(["migrate", "--frobnicate"], {}, ROOT);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /unknown option '--frobnicate'/);
  });
});
