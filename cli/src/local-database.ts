import { readFileSync, statSync } from "node:fs";
import { access, constants, mkdir, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { Config } from "../../services/common/config.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../services/common/embedded-postgres.ts";
import { describeCause, EmbeddedDatabaseError, OperatorError } from "../../services/common/errors.ts";
import type { Logger } from "../../services/common/logger.ts";

/** Where `opsctl dev` tells other opsctl commands which port its embedded server listens on. */
function runtimeFile(config: Config): string {
  return path.join(config.dataDir, "runtime.json");
}

function pgDataDir(config: Config): string {
  return path.join(config.dataDir, "pgdata");
}

/** Who owns the data folder's server right now: one process at a time (see acquireOwnerLock). */
function ownerLockFile(config: Config): string {
  return path.join(config.dataDir, "owner.lock");
}

/**
 * How a command uses the local stack when no DATABASE_URL is set (the one rule, docs/opsctl.md):
 * - "read": a running `opsctl dev`'s server, or LOCAL_STACK_STOPPED (exit 2). A read never starts
 *   a server, so two reads at once cannot collide and a mistyped OPS_DATA_DIR creates nothing.
 * - "write": a running `opsctl dev`'s server; else a temporary server on the existing cluster,
 *   under the folder's owner lock (a second writer is told who holds it), stopped on exit or signal.
 * - "own": `opsctl dev`: the owner lock for its lifetime, a new cluster if the folder has none (and
 *   is empty or an ops-pipeline data folder), its port published in runtime.json.
 */
export type LocalAccess = "read" | "write" | "own";

export interface LocalDatabase {
  url: string;
  /** "url" (DATABASE_URL), "shared" (a running `opsctl dev`'s server) or "embedded" (started here). */
  source: "url" | "shared" | "embedded";
  release(): Promise<void>;
}

/** What the supervisor of an owned server reports (opsctl dev logs it and shows it on the dashboard). */
export type SupervisorEvent =
  | { kind: "died"; code: number | null; signal: NodeJS.Signals | null }
  | { kind: "restarting"; attempt: number; of: number; inMs: number }
  | { kind: "restart-failed"; attempt: number; of: number; error: unknown }
  | { kind: "restarted"; pid: number; downMs: number };

export interface OwnedDatabase extends LocalDatabase {
  /**
   * Settles with the reason when the embedded server died and `maxRestarts` tries in a row could
   * not start it again; never settles for DATABASE_URL or while the server is up or restarted.
   */
  readonly lost: Promise<OperatorError>;
}

/** Consecutive failed restarts before `opsctl dev` gives up (exit 2), and the backoff between them. */
export const SUPERVISOR = { maxRestarts: 5, firstDelayMs: 500, maxDelayMs: 8_000 } as const;

interface LockRecord {
  pid: number;
  command: string;
  startedAt: string;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The data folder must be a folder this process can write (or be creatable): a file, a read-only
 * mount or /proc is the operator's to fix, said in one line, never a stack trace.
 * @throws OperatorError DATA_DIR_UNUSABLE naming the folder and why.
 */
export async function prepareDataDir(dataDir: string, create: boolean): Promise<void> {
  const unusable = (why: string, cause?: unknown) =>
    new OperatorError("DATA_DIR_UNUSABLE", `the data folder ${dataDir} ${why}`, {
      hint: "set OPS_DATA_DIR to a folder you can write (for example /var/tmp/ops)",
      cause,
    });
  try {
    const info = await stat(dataDir);
    if (!info.isDirectory()) throw unusable("is not a folder");
  } catch (error) {
    if (error instanceof OperatorError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR") throw unusable("is under a file, not a folder", error);
    if (code !== "ENOENT") throw unusable(`cannot be read (${code ?? describeCause(error)})`, error);
    if (!create) return;
    try {
      await mkdirLevels(dataDir);
    } catch (mkdirError) {
      const mkdirCode = (mkdirError as NodeJS.ErrnoException).code;
      throw unusable(`cannot be created (${mkdirCode ?? describeCause(mkdirError)})`, mkdirError);
    }
  }
  if (!create) return;
  try {
    await access(dataDir, constants.W_OK | constants.X_OK);
    // access() trusts mode bits; a read-only mount or /proc only shows itself on a real write.
    const probe = path.join(dataDir, `.write-probe-${process.pid}`);
    await writeFile(probe, "");
    await rm(probe, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw unusable(`is not writable (${code ?? describeCause(error)})`, error);
  }
}

/**
 * mkdir -p one level at a time: Node's recursive mkdir never returns for a path under /proc
 * (ENOENT there is not "a parent is missing"), so the ancestors are walked here instead.
 */
async function mkdirLevels(dir: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    try {
      await stat(current);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      missing.unshift(current);
      const parent = path.dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
  for (const level of missing) {
    try {
      await mkdir(level);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
}

/** What `opsctl dev` may find in a data folder it creates a cluster in: its own files, nothing else. */
const OWN_ENTRIES = new Set([
  "logs",
  "runtime.json",
  "owner.lock",
  "backups",
  "stack-outputs.json",
  "demo",
  "pgdata.credentials.json",
  "postgres.log",
]);

/** Reads the PID on postmaster.pid's first line, if the file is there. */
function postmasterPid(pgdata: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(pgdata, "postmaster.pid"), "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True when `pid` is a postgres server whose command line names this data folder. */
function isPostmasterOf(pid: number, pgdata: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(pgdata);
  } catch {
    return false;
  }
}

/**
 * A server whose owner died (killed with -9, a crash before its exit hook ran) is stopped before a
 * new owner starts one: never two servers, never one nobody will stop.
 */
async function stopOrphanServer(pgdata: string, logger: Logger): Promise<void> {
  const pid = postmasterPid(pgdata);
  if (pid === undefined || !alive(pid) || !isPostmasterOf(pid, pgdata)) return;
  logger.warn({ pid, pgdata }, "stopping an embedded PostgreSQL whose opsctl has exited");
  try {
    process.kill(pid, "SIGINT");
  } catch {
    return;
  }
  for (let waited = 0; waited < 20_000 && alive(pid); waited += 100) await delay(100);
  if (alive(pid)) {
    try {
      process.kill(pid, "SIGQUIT");
    } catch {
      // gone meanwhile
    }
    for (let waited = 0; waited < 5_000 && alive(pid); waited += 100) await delay(100);
  }
}

function readLock(file: string): LockRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LockRecord;
  } catch {
    return undefined;
  }
}

function busyError(config: Config, holder: LockRecord): OperatorError {
  return new EmbeddedDatabaseError(
    "EMBEDDED_ALREADY_RUNNING",
    `the local stack at ${config.dataDir} is in use by pid ${holder.pid} (opsctl ${holder.command}, since ${holder.startedAt})`,
    {
      hint:
        holder.command === "dev"
          ? "that opsctl dev serves other commands; if it is stuck, stop it (Ctrl-C or kill that pid)"
          : "try again when that command has finished",
    },
  );
}

/**
 * Takes the data folder's owner lock (owner.lock, created exclusively). A lock whose process has
 * exited is stale: its orphaned server, if any, is stopped and the lock taken over. PostgreSQL's own
 * postmaster.pid backs this up: should two processes break the same stale lock at once, the second
 * server refuses to start (EMBEDDED_ALREADY_RUNNING), so there is never a second server.
 * @throws EmbeddedDatabaseError EMBEDDED_ALREADY_RUNNING naming the live holder.
 */
async function acquireOwnerLock(
  config: Config,
  command: string,
  logger: Logger,
): Promise<() => Promise<void>> {
  const file = ownerLockFile(config);
  const record: LockRecord = { pid: process.pid, command, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, "wx", 0o600);
      await handle.writeFile(JSON.stringify(record));
      await handle.close();
      return async () => {
        if (readLock(file)?.pid === process.pid) await rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = readLock(file);
    if (holder && holder.pid !== process.pid && alive(holder.pid)) throw busyError(config, holder);
    await stopOrphanServer(pgDataDir(config), logger);
    await rm(file, { force: true });
  }
  const holder = readLock(file);
  throw busyError(config, holder ?? { pid: 0, command: "unknown", startedAt: "unknown" });
}

/** A running `opsctl dev`'s server, found through runtime.json, or undefined. */
async function sharedServer(config: Config): Promise<string | undefined> {
  try {
    const shared = JSON.parse(await readFile(runtimeFile(config), "utf8")) as {
      pid: number;
      port: number;
      ownerPid: number;
    };
    if (!alive(shared.pid) || !alive(shared.ownerPid)) return undefined;
    const credentials = JSON.parse(
      await readFile(path.join(config.dataDir, "pgdata.credentials.json"), "utf8"),
    ) as {
      user: string;
      password: string;
    };
    return `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${shared.port}/postgres`;
  } catch {
    return undefined;
  }
}

function hasCluster(config: Config): boolean {
  try {
    return statSync(path.join(pgDataDir(config), "PG_VERSION")).isFile();
  } catch {
    return false;
  }
}

function noStackError(config: Config): OperatorError {
  return new OperatorError(
    "LOCAL_STACK_MISSING",
    `there is no local stack at ${config.dataDir} (no database there)`,
    {
      hint: "check OPS_DATA_DIR (a typo?), or create the stack there with npm start (opsctl dev)",
    },
  );
}

/** The command's name for the owner lock and messages: `opsctl params set` → "params set". */
function commandName(): string {
  return process.argv
    .slice(2)
    .filter((arg) => !arg.startsWith("-"))
    .slice(0, 2)
    .join(" ");
}

/**
 * The database of the local target: DATABASE_URL when set; else the embedded server of a running
 * `opsctl dev` (found through runtime.json); else what `access` allows (see LocalAccess).
 * @throws OperatorError LOCAL_STACK_STOPPED / LOCAL_STACK_MISSING / DATA_DIR_UNUSABLE;
 *   EmbeddedDatabaseError when the embedded server cannot start or the folder is in use.
 */
export async function openLocalDatabase(
  config: Config,
  logger: Logger,
  options: { access?: LocalAccess } = {},
): Promise<LocalDatabase> {
  const access = options.access ?? "read";
  if (config.database.url) return { url: config.database.url, source: "url", release: async () => undefined };
  if (access === "own") return openOwnedDatabase(config, logger);
  const shared = await sharedServer(config);
  if (shared) return { url: shared, source: "shared", release: async () => undefined };
  await prepareDataDir(config.dataDir, false);
  if (!hasCluster(config)) throw noStackError(config);
  if (access === "read") {
    const holder = readLock(ownerLockFile(config));
    if (holder && alive(holder.pid) && holder.command !== "dev") throw busyError(config, holder);
    throw new OperatorError("LOCAL_STACK_STOPPED", `the local stack at ${config.dataDir} is not running`, {
      hint: "start it with npm start (opsctl dev) in another terminal, or set DATABASE_URL to a running PostgreSQL",
    });
  }
  const unlock = await acquireOwnerLock(config, commandName() || "write", logger);
  let server: EmbeddedPostgres;
  try {
    server = await startEmbeddedPostgres({
      dataDir: pgDataDir(config),
      port: config.database.embeddedPort,
      logger,
    });
  } catch (error) {
    await unlock();
    throw error;
  }
  // A Ctrl-C or SIGTERM while the temporary server is up stops it before this process ends (the
  // server is in its own process group: the terminal's signal does not reach it).
  const onSignal = (signal: NodeJS.Signals) => {
    void release().finally(() =>
      process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGHUP" ? 1 : 15)),
    );
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const signal of signals) process.once(signal, onSignal);
  let released: Promise<void> | undefined;
  const release = () => {
    released ??= (async () => {
      for (const signal of signals) process.off(signal, onSignal);
      await server.stop();
      await unlock();
    })();
    return released;
  };
  return { url: server.url, source: "embedded", release };
}

/**
 * `opsctl dev`'s database: the owner lock, the cluster (created when the folder has none), the
 * published port, and a supervisor that restarts the server when it dies (kill -9, OOM) with
 * backoff, on the same port so the stages' pool reconnects, giving up after SUPERVISOR.maxRestarts
 * failed tries in a row (`lost` settles then).
 */
export async function openOwnedDatabase(
  config: Config,
  logger: Logger,
  onEvent: (event: SupervisorEvent) => void = () => undefined,
): Promise<OwnedDatabase> {
  const never = new Promise<OperatorError>(() => undefined);
  if (config.database.url)
    return { url: config.database.url, source: "url", release: async () => undefined, lost: never };
  await prepareDataDir(config.dataDir, true);
  const unlock = await acquireOwnerLock(config, "dev", logger);
  let server: EmbeddedPostgres;
  try {
    if (!hasCluster(config)) {
      const strangers = (await readdir(config.dataDir)).filter(
        (entry) => !OWN_ENTRIES.has(entry) && entry !== "pgdata",
      );
      if (strangers.length > 0) {
        throw new OperatorError(
          "DATA_DIR_NOT_OURS",
          `${config.dataDir} is not an ops-pipeline data folder (it holds ${strangers.slice(0, 3).join(", ")}${strangers.length > 3 ? ", …" : ""}); no database was created there`,
          { hint: "point OPS_DATA_DIR at an empty or new folder (a typo?)" },
        );
      }
    }
    server = await startEmbeddedPostgres({
      dataDir: pgDataDir(config),
      port: config.database.embeddedPort,
      logger,
    });
  } catch (error) {
    await unlock();
    throw error;
  }
  const publish = (current: EmbeddedPostgres) =>
    writeFile(
      runtimeFile(config),
      JSON.stringify({ pid: current.pid, port: current.port, ownerPid: process.pid }),
      {
        mode: 0o600,
      },
    );
  try {
    await publish(server);
  } catch (error) {
    await server.stop();
    await unlock();
    throw error;
  }

  let released = false;
  let lose: (error: OperatorError) => void = () => undefined;
  const lost = new Promise<OperatorError>((resolve) => {
    lose = resolve;
  });
  const supervise = async () => {
    while (!released) {
      const exit = await server.exited;
      if (released) return;
      const diedAt = Date.now();
      logger.error({ code: exit.code, signal: exit.signal }, "embedded PostgreSQL died; restarting it");
      onEvent({ kind: "died", code: exit.code, signal: exit.signal });
      let restarted = false;
      let lastError: unknown;
      for (let attempt = 1; attempt <= SUPERVISOR.maxRestarts && !released; attempt++) {
        const inMs = Math.min(SUPERVISOR.maxDelayMs, SUPERVISOR.firstDelayMs * 2 ** (attempt - 1));
        onEvent({ kind: "restarting", attempt, of: SUPERVISOR.maxRestarts, inMs });
        await delay(inMs);
        if (released) return;
        try {
          // Never a new, empty cluster in place of one that vanished: that is the operator's to see.
          if (!hasCluster(config)) throw noStackError(config);
          // The same port: the stages' pool reconnects to the URL it already has.
          server = await startEmbeddedPostgres({ dataDir: pgDataDir(config), port: server.port, logger });
          await publish(server);
          restarted = true;
          logger.warn(
            { pid: server.pid, downMs: Date.now() - diedAt, attempt },
            "embedded PostgreSQL restarted",
          );
          onEvent({ kind: "restarted", pid: server.pid, downMs: Date.now() - diedAt });
          break;
        } catch (error) {
          lastError = error;
          logger.error({ err: error, attempt }, "embedded PostgreSQL did not restart");
          onEvent({ kind: "restart-failed", attempt, of: SUPERVISOR.maxRestarts, error });
        }
      }
      if (!restarted) {
        if (!released) {
          lose(
            new OperatorError(
              "EMBEDDED_LOST",
              `the embedded PostgreSQL died and did not restart after ${SUPERVISOR.maxRestarts} tries (${describeCause(lastError)})`,
              {
                hint: `look at ${config.dataDir}/logs/dev.log, then start again with npm start`,
                cause: lastError,
              },
            ),
          );
        }
        return;
      }
    }
  };
  void supervise();
  return {
    url: server.url,
    source: "embedded",
    lost,
    async release() {
      released = true;
      await rm(runtimeFile(config), { force: true });
      await server.stop();
      await unlock();
    },
  };
}

/**
 * A database without the schema (a fresh embedded server, a new DATABASE_URL) fails with
 * undefined_table (42P01): that is the operator's to fix with `opsctl migrate`, not a bug.
 * @throws OperatorError NOT_MIGRATED for that; any other error as it was.
 */
export async function explainMissingTables<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const code =
      (error as { cause?: { code?: unknown }; code?: unknown }).cause?.code ??
      (error as { code?: unknown }).code;
    if (code === "42P01") {
      throw new OperatorError(
        "NOT_MIGRATED",
        `the database has no ops-pipeline schema (${describeCause(error)})`,
        {
          hint: "run opsctl migrate (with the same DATABASE_URL / OPS_DATA_DIR), or start opsctl dev",
          cause: error,
        },
      );
    }
    throw error;
  }
}
