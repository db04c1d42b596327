import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function env(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {
    ...process.env,
    OPS_DATA_DIR: dataDir,
    LOG_FORMAT: "json",
    NO_COLOR: "1",
    ...extra,
  };
  delete out.DATABASE_URL;
  return out;
}

/** Runs the built binary asynchronously, so several can run at once. */
function opsctl(args: string[], dataDir: string, extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: env(dataDir, extra),
      timeout: 60_000,
    });
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
}

function errorCode(run: Run): string | undefined {
  try {
    return (JSON.parse(run.stdout) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** Every running process whose command line mentions `needle` (a data folder, here). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

async function noneLeft(needle: string): Promise<number[]> {
  // A server stopping after its owner exited takes a moment; wait up to 10 s for it to go.
  for (let i = 0; i < 100 && processesMentioning(needle).length > 0; i++) await delay(100);
  return processesMentioning(needle);
}

function startDev(dataDir: string, args: string[] = [], extra: Record<string, string> = {}) {
  const child: ChildProcess = spawn(process.execPath, [BIN, "dev", "--no-dashboard", ...args], {
    cwd: ROOT,
    env: env(dataDir, extra),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const waitFor = async (pattern: RegExp, timeoutMs: number) => {
    const until = Date.now() + timeoutMs;
    while (!pattern.test(output)) {
      if (child.exitCode !== null)
        assert.fail(`dev exited ${child.exitCode} before ${pattern}:\n${output.slice(-4000)}`);
      if (Date.now() > until) assert.fail(`no ${pattern} in ${timeoutMs} ms:\n${output.slice(-4000)}`);
      await delay(100);
    }
  };
  return { child, exited, waitFor, output: () => output };
}

describe("opsctl and the local stack (spawned binary, embedded PostgreSQL)", function () {
  this.timeout(180_000);
  let work: string;
  let dataDir: string;

  before(async () => {
    if (!existsSync(path.join(ROOT, "dist", "cli", "opsctl.js"))) {
      const built = spawnSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], {
        cwd: ROOT,
        stdio: "inherit",
      });
      assert.equal(built.status, 0, "build failed");
    }
    work = await mkdtemp(path.join(os.tmpdir(), "ops-local-stack-"));
    // The embedded server runs as the postgres user when tests run as root: it must enter here.
    await chmod(work, 0o755);
    dataDir = path.join(work, "stack");
    // One cluster for the whole file: created by dev (the only command that creates one), stopped.
    const dev = startDev(dataDir);
    await dev.waitFor(/ops-pipeline running/, 120_000);
    dev.child.kill("SIGINT");
    assert.equal(await dev.exited, 0, dev.output());
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("answers every read command against the stopped stack with LOCAL_STACK_STOPPED (exit 2), several at once, starting no server", async () => {
    const reads = [
      ["status"],
      ["recs"],
      ["recs", "show", "1"],
      ["params", "list"],
      ["params", "audit"],
      ["dry-run", "status"],
      ["kill-switch", "status"],
      ["migrate", "--status"],
      ["feeds", "list"],
      ["backup", "list"],
      ["replay", "--from", "2026-01-05T00:00:00Z", "--to", "2026-01-06T00:00:00Z"],
      ["positions"],
      ["orders", "--open"],
    ];
    const runs = await Promise.all(reads.map((args) => opsctl([...args, "--json"], dataDir)));
    for (const [index, run] of runs.entries()) {
      const args = reads[index]?.join(" ");
      assert.equal(run.code, 2, `${args}: ${run.stdout} ${run.stderr}`);
      assert.equal(errorCode(run), "LOCAL_STACK_STOPPED", `${args}: ${run.stdout}`);
    }
    const plain = await opsctl(["status"], dataDir);
    assert.match(plain.stderr, /the local stack at .* is not running/);
    assert.match(plain.stderr, /next: start it with npm start/);
    assert.deepEqual(await noneLeft(dataDir), []);
  });

  it("recs --follow against a stopped stack exits 2 at once and leaves no PostgreSQL behind", async () => {
    const run = await opsctl(["recs", "--follow"], dataDir);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /not running/);
    assert.deepEqual(await noneLeft(dataDir), []);
  });

  it("never creates a cluster in a folder that was not one: reads, writes and dev on a mistyped or foreign OPS_DATA_DIR", async () => {
    const typo = path.join(work, "stakc");
    for (const args of [["status"], ["params", "set", "max-trades-per-day", "3"], ["migrate"]]) {
      const run = await opsctl([...args, "--json"], typo);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stdout} ${run.stderr}`);
      assert.equal(errorCode(run), "LOCAL_STACK_MISSING");
    }
    assert.ok(!existsSync(typo), "nothing was created at the mistyped path");
    const foreign = path.join(work, "home");
    await mkdir(foreign);
    await writeFile(path.join(foreign, "notes.txt"), "mine\n");
    const dev = await opsctl(["dev", "--no-dashboard", "--json"], foreign);
    assert.equal(dev.code, 2, dev.stderr);
    assert.equal(errorCode(dev), "DATA_DIR_NOT_OURS");
    assert.ok(!existsSync(path.join(foreign, "pgdata")));
  });

  it("a write against the stopped stack runs on a temporary server of the existing cluster, then stops it", async () => {
    const run = await opsctl(["params", "set", "max-trades-per-day", "7", "--json"], dataDir);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await noneLeft(dataDir), []);
    assert.ok(!existsSync(path.join(dataDir, "owner.lock")), "the owner lock is released");
  });

  it("dev (and dev --demo) exit 2 at once on an unusable data folder, leaving nothing running", async () => {
    const file = path.join(work, "a-file");
    await writeFile(file, "");
    // As root the server runs as the postgres user, who cannot enter a folder of mode 0700.
    const closed = path.join(work, "closed");
    await mkdir(closed, { mode: 0o700 });
    for (const [folder, pattern] of [
      [file, /is not a folder/],
      [path.join(file, "below"), /is under a file/],
      ["/proc/ops-pipeline-test", /cannot be created/],
      ...(process.getuid?.() === 0
        ? ([[path.join(closed, "state"), /the postgres user cannot enter/]] as const)
        : []),
    ] as const) {
      for (const args of [[], ["--demo"]]) {
        const run = await opsctl(["dev", "--no-dashboard", ...args], folder);
        assert.equal(run.code, 2, `${folder} ${args.join(" ")}: ${run.stderr}`);
        assert.match(run.stderr, pattern);
        assert.doesNotMatch(run.stderr, /\n\s+at /, "an operator error, no stack trace");
      }
    }
  });

  it("supervises its embedded server: after kill -9 it is back within 30 s, other commands share it and no second server starts", async () => {
    const dev = startDev(dataDir);
    try {
      await dev.waitFor(/ops-pipeline running/, 60_000);
      // While dev runs, a second dev is refused (its owner is alive) and commands share its server.
      const second = await opsctl(["dev", "--no-dashboard", "--demo", "--json"], dataDir);
      assert.equal(second.code, 2, second.stderr);
      assert.equal(errorCode(second), "EMBEDDED_ALREADY_RUNNING");
      assert.equal((await opsctl(["recs", "--json"], dataDir)).code, 0);
      const before = JSON.parse(readFileSync(path.join(dataDir, "runtime.json"), "utf8")) as { pid: number };
      const killedAt = Date.now();
      process.kill(before.pid, "SIGKILL");
      await dev.waitFor(/database restarted/, 30_000);
      let recovered = false;
      while (!recovered && Date.now() - killedAt < 30_000) {
        const run = await opsctl(["params", "list", "--json"], dataDir);
        recovered = run.code === 0;
        if (!recovered) await delay(250);
      }
      assert.ok(recovered, `commands work again within 30 s of kill -9:\n${dev.output().slice(-3000)}`);
      const after = JSON.parse(readFileSync(path.join(dataDir, "runtime.json"), "utf8")) as { pid: number };
      assert.notEqual(after.pid, before.pid, "runtime.json names the restarted server");
      assert.equal(
        processesMentioning(path.join(dataDir, "pgdata")).filter((pid) => pid === before.pid).length,
        0,
      );
    } finally {
      if (dev.child.exitCode === null) dev.child.kill("SIGINT");
    }
    assert.equal(await dev.exited, 0, dev.output().slice(-3000));
    assert.deepEqual(await noneLeft(dataDir), []);
  });

  it("stops cleanly with exit 2 when its server cannot be restarted, and never makes a new cluster in its place", async () => {
    const dev = startDev(dataDir);
    const moved = path.join(work, "pgdata-moved");
    try {
      await dev.waitFor(/ops-pipeline running/, 60_000);
      const { pid } = JSON.parse(readFileSync(path.join(dataDir, "runtime.json"), "utf8")) as { pid: number };
      // The cluster goes away under the running server (a wiped disk, a mistaken rm), then it dies.
      await rename(path.join(dataDir, "pgdata"), moved);
      process.kill(pid, "SIGKILL");
      // 5 tries with backoff (0.5 + 1 + 2 + 4 + 8 s) before it gives up.
      const code = await Promise.race([dev.exited, delay(60_000, "still running")]);
      assert.equal(code, 2, dev.output().slice(-3000));
      assert.match(dev.output(), /did not restart after 5 tries/);
      assert.ok(!existsSync(path.join(dataDir, "pgdata")), "no new cluster was created");
    } finally {
      if (dev.child.exitCode === null) dev.child.kill("SIGKILL");
      if (existsSync(moved)) await rename(moved, path.join(dataDir, "pgdata"));
    }
    assert.deepEqual(await noneLeft(dataDir), []);
  });
});
