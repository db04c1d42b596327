// Chaos experiment: the embedded PostgreSQL under `opsctl dev` killed with kill -9. The built
// binary (dist/, `npm run build`) runs `opsctl dev --no-dashboard` on a fresh data folder in a
// temporary directory; once it is running and `opsctl status` has a verdict, the server named in
// runtime.json is SIGKILLed. Figures, each from the kill: when dev says "database restarted",
// when `opsctl params list` works again, when the runtime is healthy again (goal ≤ 30 s: commands
// work, `opsctl status`'s verdict is no worse than before the kill and no stage's last run failed,
// so a scheduled run that failed during the outage has been retried), and when every always-on
// stage has also beaten since the kill (an idle one beats every 30 s, so this one is bounded by
// that heartbeat, not by the recovery).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { STAGE_TABLE } from "../../services/common/stages.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");
/** Stages that run all the time (they must beat again); the others run on their schedule. */
const ALWAYS_ON: string[] = Object.entries(STAGE_TABLE)
  .filter(([, stage]) => stage.cadence.kind === "always-on")
  .map(([name]) => name);

export interface DevDatabaseFigures {
  kills: number;
  statusBeforeKill: number[];
  /** Per kill, the stages not yet healthy when the wait ended (always-on: no clean beat since the kill; others: last run failed). */
  notResumed: string[][];
  verdictAtEnd: (number | null)[];
  /** What recovery waited on, from the kill: each change of the stages not yet healthy. */
  timeline: string[];
  databaseRestartedMs: (number | null)[];
  commandsWorkMs: (number | null)[];
  healthyAgainMs: (number | null)[];
  /** Per kill, when every always-on stage had also beaten since the kill (bounded below by their idle heartbeat, 30 s). */
  everyAlwaysOnStageBeatMs: (number | null)[];
  devExitCode: number | null;
}

function env(dataDir: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, OPS_DATA_DIR: dataDir, LOG_FORMAT: "json", NO_COLOR: "1" };
  delete out.DATABASE_URL;
  return out;
}

function opsctl(args: string[], dataDir: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: env(dataDir),
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 20_000,
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

interface StageBeat {
  stage: string;
  lastBeatAt: string | null;
  lastError: string | null;
}

/** `opsctl status --json`: its exit code (the verdict) and each stage's last heartbeat. */
async function status(dataDir: string): Promise<{ code: number | null; stages: StageBeat[] }> {
  const run = await opsctl(["status", "--json"], dataDir);
  try {
    const doc = JSON.parse(run.stdout) as { health?: { stages?: StageBeat[] } };
    return { code: run.code, stages: doc.health?.stages ?? [] };
  } catch {
    return { code: run.code, stages: [] };
  }
}

export async function devDatabaseKilled(options: {
  kills: number;
  /** How long to wait, per kill, for the figures. */
  waitMs: number;
  /** Also wait for every always-on stage to beat again (else stop once healthy). */
  waitForBeats: boolean;
}): Promise<DevDatabaseFigures> {
  if (!existsSync(path.join(ROOT, "dist", "cli", "opsctl.js"))) {
    const built = spawnSync(process.execPath, ["--import", "tsx", "scripts/build.ts"], {
      cwd: ROOT,
      stdio: "inherit",
    });
    if (built.status !== 0) throw new Error("npm run build failed; dev-database needs the built opsctl");
  }
  const work = await mkdtemp(path.join(os.tmpdir(), "ops-chaos-dev-"));
  // The embedded server runs as the postgres user when this runs as root: it must enter here.
  await chmod(work, 0o755);
  const dataDir = path.join(work, "stack");
  const figures: DevDatabaseFigures = {
    kills: 0,
    statusBeforeKill: [],
    notResumed: [],
    verdictAtEnd: [],
    timeline: [],
    databaseRestartedMs: [],
    commandsWorkMs: [],
    healthyAgainMs: [],
    everyAlwaysOnStageBeatMs: [],
    devExitCode: null,
  };
  const dev: ChildProcess = spawn(process.execPath, [BIN, "dev", "--no-dashboard"], {
    cwd: ROOT,
    env: env(dataDir),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const restartsAt: number[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    output += text;
    if (/database restarted/.test(text)) restartsAt.push(Date.now());
  };
  dev.stdout?.on("data", collect);
  dev.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => dev.once("exit", (code) => resolve(code)));
  try {
    const until = Date.now() + 120_000;
    while (!/ops-pipeline running/.test(output)) {
      if (dev.exitCode !== null || Date.now() > until)
        throw new Error(`opsctl dev did not start:\n${output.slice(-3000)}`);
      await delay(100);
    }
    for (let k = 0; k < options.kills; k++) {
      const before = await status(dataDir);
      const verdict = before.code ?? 4;
      figures.statusBeforeKill.push(verdict);
      const restartsBefore = restartsAt.length;
      const { pid } = JSON.parse(readFileSync(path.join(dataDir, "runtime.json"), "utf8")) as { pid: number };
      const killedAt = Date.now();
      process.kill(pid, "SIGKILL");
      figures.kills += 1;
      let works: number | null = null;
      let healthy: number | null = null;
      let allBeat: number | null = null;
      let lagging: string[] = ALWAYS_ON;
      let lastVerdict: number | null = null;
      let lastKey = "";
      const done = () => healthy !== null && (allBeat !== null || !options.waitForBeats);
      while (Date.now() - killedAt < options.waitMs && !done()) {
        if (dev.exitCode !== null) break;
        if (works === null && (await opsctl(["params", "list", "--json"], dataDir)).code === 0)
          works = Date.now() - killedAt;
        if (works !== null) {
          const now = await status(dataDir);
          const at = Date.now() - killedAt;
          lastVerdict = now.code;
          const failing = now.stages.filter((s) => s.lastError !== null).map((s) => s.stage);
          const verdictOk = now.code !== null && now.code !== 2 && now.code <= verdict;
          if (healthy === null && verdictOk && failing.length === 0) healthy = at;
          lagging = now.stages
            .filter(
              (s) =>
                ALWAYS_ON.includes(s.stage) &&
                !(s.lastBeatAt !== null && Date.parse(s.lastBeatAt) > killedAt && s.lastError === null),
            )
            .map((s) => s.stage);
          if (allBeat === null && verdictOk && failing.length === 0 && lagging.length === 0) allBeat = at;
          const key = `failing: ${failing.join("+") || "none"}; not beaten since: ${lagging.join("+") || "none"}; status exit ${now.code}`;
          if (key !== lastKey) figures.timeline.push(`${at} ms ${key}`);
          lastKey = key;
        }
        if (!done()) await delay(250);
      }
      const restartedAt = restartsAt[restartsBefore];
      figures.databaseRestartedMs.push(restartedAt === undefined ? null : restartedAt - killedAt);
      figures.commandsWorkMs.push(works);
      figures.healthyAgainMs.push(healthy);
      figures.everyAlwaysOnStageBeatMs.push(allBeat);
      figures.notResumed.push(lagging);
      figures.verdictAtEnd.push(lastVerdict);
      if (healthy === null) break;
    }
  } finally {
    if (dev.exitCode === null) dev.kill("SIGINT");
    const stopped = await Promise.race([exited, delay(30_000).then(() => "timeout" as const)]);
    if (stopped === "timeout") {
      dev.kill("SIGKILL");
      figures.devExitCode = await exited;
    } else figures.devExitCode = stopped;
    await rm(work, { recursive: true, force: true });
  }
  return figures;
}
