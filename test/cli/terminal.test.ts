import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import pg from "pg";
import { closeDatabase, connectDatabase } from "../../services/common/db.ts";
import { createDatabase, dropDatabase, TEST_POOL_OPTIONS } from "../helpers/db.ts";
import { insertRecommendations } from "./helpers/seed.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");
const SYSTEM_NODE = "/usr/bin/node";

/**
 * What an operator's terminal does not have: CI's markers. With CI set, Ink draws only its last
 * frame and supports-color turns colour off, so a suite run by CI would test another program.
 */
const CI_MARKERS = Object.keys(process.env).filter(
  (key) => key === "CI" || key === "CONTINUOUS_INTEGRATION" || key === "FORCE_COLOR" || key.startsWith("CI_"),
);

function operatorEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of CI_MARKERS) delete env[key];
  return { ...env, ...extra };
}

function hasTmux(): boolean {
  return spawnSync("tmux", ["-V"], { encoding: "utf8" }).status === 0;
}

/** A private tmux server (its own socket): a real terminal for opsctl, driven by keys and pastes. */
class Terminal {
  readonly socket = `ops-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  constructor(readonly exitFile: string) {}
  tmux(...args: string[]) {
    return spawnSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8" });
  }
  start(command: string, env: Record<string, string>) {
    const exports = Object.entries(env)
      .map(([key, value]) => `${key}='${value.replaceAll("'", "'\\''")}'`)
      .join(" ");
    const started = this.tmux(
      "new-session",
      "-d",
      "-x",
      "160",
      "-y",
      "50",
      "-s",
      "t",
      // -u DATABASE_URL: the tmux server inherits this process's environment, and a suite run with
      // DATABASE_URL (CI's second pass) must not point a spawned `opsctl dev` at the shared database.
      // CI's markers go too: this is an operator's terminal (see CI_MARKERS).
      `cd '${ROOT}' && env -u DATABASE_URL ${CI_MARKERS.map((key) => `-u ${key} `).join("")}${exports} ${command}; echo "EXIT=$?" > '${this.exitFile}'; sleep 60`,
    );
    assert.equal(started.status, 0, started.stderr);
  }
  screen(): string {
    return this.tmux("capture-pane", "-p", "-t", "t").stdout;
  }
  async waitForScreen(pattern: RegExp, timeoutMs: number): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen();
      if (pattern.test(screen)) return screen;
      if (Date.now() > until || existsSync(this.exitFile))
        assert.fail(`no ${pattern} on the terminal:\n${screen}`);
      await delay(200);
    }
  }
  async exitCode(timeoutMs: number): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!existsSync(this.exitFile) && Date.now() < until) await delay(200);
    assert.ok(existsSync(this.exitFile), `the command did not exit:\n${this.screen()}`);
    return readFileSync(this.exitFile, "utf8").trim();
  }
  close() {
    this.tmux("kill-server");
  }
}

function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      // The tmux pane's own shell names the folder too; it is not opsctl.
      if (cmdline.includes(needle) && !cmdline.includes("EXIT=")) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

describe("opsctl on a real terminal (tmux)", function () {
  this.timeout(180_000);
  let work: string;
  let terminal: Terminal;

  before(function () {
    if (!hasTmux()) this.skip();
    if (!existsSync(path.join(ROOT, "dist", "cli", "opsctl.js"))) {
      const built = spawnSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], {
        cwd: ROOT,
        stdio: "inherit",
      });
      assert.equal(built.status, 0, "build failed");
    }
  });
  beforeEach(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), "ops-terminal-"));
    await chmod(work, 0o755);
    terminal = new Terminal(path.join(work, "exit"));
  });
  afterEach(async () => {
    terminal?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("stops dev cleanly on one Ctrl-C when Node 20 runs the launcher (the terminal's SIGINT is not passed on twice)", async function () {
    const version = existsSync(SYSTEM_NODE)
      ? spawnSync(SYSTEM_NODE, ["-p", "process.versions.node"], { encoding: "utf8" })
      : null;
    if (!version || Number(version.stdout.split(".")[0]) >= 24) this.skip();
    const dataDir = path.join(work, "state");
    terminal.start(`${SYSTEM_NODE} '${BIN}' dev`, {
      OPS_DATA_DIR: dataDir,
      PATH: process.env.PATH ?? "",
      HOME: os.homedir(),
      TERM: "xterm-256color",
      LOG_FORMAT: "json",
    });
    await terminal.waitForScreen(/ops-pipeline dev/, 90_000);
    for (let i = 0; i < 300 && !existsSync(path.join(dataDir, "runtime.json")); i++) await delay(100);
    // Let the stages take their first runs, so a clean stop has leases to release.
    await terminal.waitForScreen(/runs/, 30_000);
    terminal.tmux("send-keys", "-t", "t", "C-c");
    assert.equal(await terminal.exitCode(60_000), "EXIT=0", terminal.screen());
    const log = readFileSync(path.join(dataDir, "logs", "dev.log"), "utf8");
    assert.equal(log.match(/"stopping: finishing running stages/g)?.length, 1, "one signal arrived");
    assert.doesNotMatch(log, /second signal/);
    assert.deepEqual(processesMentioning(dataDir), [], "neither opsctl nor its postgres is left behind");
  });

  describe("the type-to-confirm prompt", () => {
    let database: { name: string; url: string };
    before(async () => {
      database = await createDatabase({ migrated: true });
    });
    after(async () => {
      await dropDatabase(database.name);
    });

    const dryRun = async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const row = await client.query<{ value: unknown }>("SELECT value FROM params WHERE key = 'dry-run'");
        return row.rows[0]?.value ?? true;
      } finally {
        await client.end();
      }
    };

    it('accepts "live" and Enter pasted in one write, then reports true → false and that no broker is configured', async () => {
      terminal.start(`${process.execPath} '${BIN}' dry-run off`, {
        DATABASE_URL: database.url,
        OPS_DATA_DIR: path.join(work, "state"),
        PATH: process.env.PATH ?? "",
        HOME: os.homedir(),
        TERM: "xterm-256color",
        OPS_ALPACA_BASE_URL: "",
      });
      const prompt = await terminal.waitForScreen(/Type live and press Enter/, 30_000);
      assert.match(prompt, /no broker is configured/);
      // One write, as a paste: tmux's paste-buffer turns the newline into a carriage return.
      terminal.tmux("set-buffer", "-b", "answer", "live\n");
      terminal.tmux("paste-buffer", "-b", "answer", "-t", "t");
      assert.equal(await terminal.exitCode(30_000), "EXIT=0", terminal.screen());
      const screen = terminal.screen();
      assert.match(screen, /dry-run: true → false/);
      assert.match(screen, /no broker is configured/);
      assert.equal(await dryRun(), false);
    });

    it("names the configured broker before and after the change", async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      await client.query("DELETE FROM params WHERE key = 'dry-run'");
      await client.end();
      terminal.start(`${process.execPath} '${BIN}' dry-run off`, {
        DATABASE_URL: database.url,
        OPS_DATA_DIR: path.join(work, "state"),
        PATH: process.env.PATH ?? "",
        HOME: os.homedir(),
        TERM: "xterm-256color",
        OPS_ALPACA_BASE_URL: "https://paper-api.alpaca.markets",
      });
      const prompt = await terminal.waitForScreen(/Type live and press Enter/, 30_000);
      assert.match(prompt, /place orders with Alpaca at paper-api\.alpaca\.markets/);
      terminal.tmux("send-keys", "-t", "t", "-l", "live");
      terminal.tmux("send-keys", "-t", "t", "Enter");
      assert.equal(await terminal.exitCode(30_000), "EXIT=0", terminal.screen());
      assert.match(terminal.screen(), /orders now go to Alpaca at paper-api\.alpaca\.markets/);
    });
  });
});

describe("opsctl conventions (spawned binary)", function () {
  this.timeout(120_000);
  let database: { name: string; url: string };
  before(async () => {
    database = await createDatabase({ migrated: true });
  });
  after(async () => {
    await dropDatabase(database.name);
  });
  const run = (args: string[], extra: Record<string, string> = {}) =>
    spawnSync(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url, ...extra },
      encoding: "utf8",
      timeout: 60_000,
    });

  it("prints no colour on a terminal with NO_COLOR or --no-color, and colour without them", () => {
    // script(1) gives the command a pseudo-terminal, so Ink would colour its screens.
    const onTerminal = (command: string) =>
      spawnSync("script", ["-qec", command, "/dev/null"], {
        cwd: ROOT,
        env: operatorEnvironment({ DATABASE_URL: database.url, TERM: "xterm-256color", NO_COLOR: "" }),
        encoding: "utf8",
        timeout: 60_000,
      }).stdout;
    const ansi = "\u001b[";
    const node = `'${process.execPath}' '${BIN}'`;
    assert.ok(onTerminal(`${node} status`).includes(ansi), "colour by default on a terminal");
    for (const command of [
      `NO_COLOR=1 ${node} status`,
      `${node} --no-color status`,
      `NO_COLOR=1 ${node} recs`,
    ]) {
      assert.ok(!onTerminal(command).includes(ansi), `no escape codes from: ${command}`);
    }
  });

  it("answers usage errors as {error} JSON on stdout when --json is given, exit 2", () => {
    for (const args of [
      ["recs", "--limit", "0", "--json"],
      ["status", "--frobnicate", "--json"],
      ["--json", "nosuchcommand"],
    ]) {
      const result = run(args);
      assert.equal(result.status, 2, args.join(" "));
      const error = (JSON.parse(result.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(error.code, "USAGE");
      assert.ok(error.message.length > 0);
      assert.equal(result.stderr, "", "nothing but the JSON");
    }
  });

  it("exits 2 for logs of a stage that does not exist instead of printing nothing", () => {
    const result = run(["logs", "nosuchstage"]);
    assert.equal(result.status, 2);
    assert.match(result.stderr, /no stage named nosuchstage/);
  });

  it("takes backup restore's database as --into, leaving --target to name the stack", () => {
    const help = run(["backup", "restore", "--help"]);
    assert.match(help.stdout, /--into <url>/);
    const bad = run(["backup", "restore", "1", "--into", "not-a-url", "--json"]);
    assert.equal(bad.status, 2);
    assert.equal(
      (JSON.parse(bad.stdout) as { error: { code: string } }).error.code,
      "RESTORE_TARGET_INVALID",
    );
  });

  it("prints cost figures rounded, never 2.3000000000000003", () => {
    const result = run(["cost", "--json"]);
    assert.ok([0, 3].includes(result.status ?? -1), result.stderr);
    assert.doesNotMatch(result.stdout, /Usd": -?\d+\.\d{5,}/);
  });

  it("filters recs by --ticker, --since and --status, one unwrapped line per row in a pipe", async () => {
    const pool = await connectDatabase({ url: database.url, ...TEST_POOL_OPTIONS });
    try {
      await insertRecommendations(pool, 40, "REJECTED");
    } finally {
      await closeDatabase(pool);
    }
    // insertRecommendations: ticker T(n % 50), as_of n hours ago; T7 has n = 7 only (n <= 40).
    const result = run(["recs", "--ticker", "t7", "--since", "8h", "--status", "REJECTED"], {
      COLUMNS: "60",
    });
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split("\n");
    assert.equal(lines.length, 1, result.stdout);
    assert.match(lines[0] ?? "", /^#\d+\s.*T7\s+SELL\s+REJECTED.*gate=dry-run$/);
    const older = run(["recs", "--ticker", "T7", "--since", "6h"]);
    assert.equal(older.stdout.trim(), "", "the row is 7 h old");
    const all = run(["recs", "--limit", "100"]);
    assert.equal(all.stdout.trim().split("\n").length, 40, "one line per row");
    const bad = run(["recs", "--since", "yesterday", "--json"]);
    assert.equal(bad.status, 2);
  });

  it("status -w in a pipe prints the screen once, then only changes, and stops on Ctrl-C with exit 0", async () => {
    const child = spawn(process.execPath, [BIN, "status", "-w", "--interval-ms", "200"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: database.url },
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    for (let i = 0; i < 100 && !/stages/.test(stdout); i++) await delay(100);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(
      "INSERT INTO watchdog_state (check_key, level, since, last_evaluated_at, message) VALUES ('freshness:raw', 'ERROR', now(), now(), 'no events for 2h')",
    );
    for (let i = 0; i < 100 && !/no events for 2h/.test(stdout); i++) await delay(100);
    await client.query("DELETE FROM watchdog_state");
    await client.end();
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.equal(stdout.match(/ops-pipeline local/g)?.length, 1, `the header once:\n${stdout}`);
    assert.equal(stdout.match(/^\d\d:\d\d:\d\d .*stages/gm)?.length, 1, "unchanged lines are not repeated");
    assert.match(stdout, /^\d\d:\d\d:\d\d .*no events for 2h/m, "the change, timestamped");
  });

  it("prints bash, zsh and fish completion from the real command tree", () => {
    const script = run(["completion", "bash"]);
    assert.equal(script.status, 0, script.stderr);
    const complete = (words: string[]) =>
      spawnSync(
        "bash",
        [
          "-c",
          `eval "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _opsctl_completion; echo "\${COMPREPLY[@]}"`,
          "_",
          script.stdout,
        ],
        { encoding: "utf8" },
      ).stdout.trim();
    assert.deepEqual(complete(["opsctl", "st"]).split(" "), ["status"]);
    assert.match(complete(["opsctl", "--json", "recs", ""]), /\bshow\b.*--ticker/);
    assert.deepEqual(complete(["opsctl", "backup", "restore", "--in"]).split(" "), ["--into"]);
    assert.match(run(["completion", "zsh"]).stdout, /bashcompinit/);
    assert.match(
      run(["completion", "fish"]).stdout,
      /complete -c opsctl -n '__fish_use_subcommand' -a status/,
    );
    assert.equal(run(["completion", "tcsh"]).status, 2);
  });

  it("accepts -y for --yes and names required options in --help", () => {
    const off = run(["dry-run", "off", "-y", "--json"]);
    assert.equal(off.status, 0, off.stderr);
    assert.equal((JSON.parse(off.stdout) as { newValue: boolean }).newValue, false);
    assert.equal(run(["dry-run", "on"]).status, 0);
    const help = run(["replay", "--help"]);
    assert.match(help.stdout, /--from <[^>]+>.*\(required\)/);
  });
});
