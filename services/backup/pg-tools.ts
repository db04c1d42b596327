import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";

const execFileAsync = promisify(execFile);

export type PgToolName = "pg_dump" | "pg_restore";

export interface PgTool {
  name: PgToolName;
  path: string;
  /** Full version, e.g. "15.20". */
  version: string;
  major: number;
}

/** pg_dump / pg_restore missing, unrunnable, or too old for the server. */
export class PgToolError extends OperatorError {
  override readonly name = "PgToolError";
}

function installHint(major: number | undefined): string {
  const pkg = major ? `postgresql-client-${major}` : "postgresql-client";
  return `install ${pkg} (apt-get install ${pkg}) or set OPS_PG_BIN_DIR to the folder holding pg_dump and pg_restore of that major version`;
}

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds a PostgreSQL client tool: in `binDir` when configured (and only there), else on PATH.
 * @throws PgToolError when it cannot be found or does not report a version.
 */
export async function findPgTool(
  name: PgToolName,
  options: { binDir?: string | undefined; pathEnv?: string | undefined } = {},
): Promise<PgTool> {
  let found: string | undefined;
  if (options.binDir) {
    const candidate = path.join(options.binDir, name);
    if (await executable(candidate)) found = candidate;
    else {
      throw new PgToolError(
        "PG_TOOL_MISSING",
        `${name} is not an executable file in OPS_PG_BIN_DIR (${options.binDir})`,
        {
          hint: installHint(undefined),
        },
      );
    }
  } else {
    for (const dir of (options.pathEnv ?? process.env.PATH ?? "").split(path.delimiter)) {
      if (!dir) continue;
      const candidate = path.join(dir, name);
      if (await executable(candidate)) {
        found = candidate;
        break;
      }
    }
  }
  if (!found) {
    throw new PgToolError("PG_TOOL_MISSING", `${name} was not found on PATH`, {
      hint: installHint(undefined),
    });
  }
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(found, ["--version"], { timeout: 10_000 }));
  } catch (error) {
    throw new PgToolError("PG_TOOL_BROKEN", `${found} --version failed`, {
      hint: installHint(undefined),
      cause: error,
    });
  }
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
  if (!match?.[1]) {
    throw new PgToolError(
      "PG_TOOL_BROKEN",
      `${found} --version printed no PostgreSQL version: ${stdout.trim()}`,
      {
        hint: installHint(undefined),
      },
    );
  }
  return {
    name,
    path: found,
    version: match[2] ? `${match[1]}.${match[2]}` : match[1],
    major: Number(match[1]),
  };
}

/** The server's major version (server_version_num 150020 → 15). */
export async function serverMajor(db: CommonQueryMethods): Promise<{ major: number; version: string }> {
  const row = await db.one(sql.type(z.object({ num: z.string(), version: z.string() }))`
    SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version`);
  return { major: Math.floor(Number(row.num) / 10_000), version: row.version };
}

/**
 * pg_dump refuses to dump a server newer than itself ("server version mismatch"), and a
 * pg_restore older than the pg_dump that wrote an archive cannot read it; both are caught here
 * with the fix instead of halfway through a dump.
 * @throws PgToolError when the tool's major version is below the server's.
 */
export function checkToolAgainstServer(tool: PgTool, server: { major: number; version: string }): void {
  if (tool.major < server.major) {
    throw new PgToolError(
      "PG_TOOL_TOO_OLD",
      `${tool.name} ${tool.version} (${tool.path}) is older than the PostgreSQL ${server.version} server: its major version must be ${server.major} or newer`,
      { hint: installHint(server.major) },
    );
  }
}

/**
 * Connection arguments for a client tool without the password on its command line (where `ps`
 * shows it): the URL goes without password, the password through PGPASSWORD.
 */
export function toolConnection(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: "10" };
  if (password) env.PGPASSWORD = password;
  else delete env.PGPASSWORD;
  return { dbname: parsed.toString(), env };
}
