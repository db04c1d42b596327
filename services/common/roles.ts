import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { MigrationError } from "./errors.ts";
import type { SecretsProvider } from "./secrets.ts";

/**
 * The PostgreSQL role of each stage (sql/0090_stage_roles.sql creates them and holds the grants).
 * The migrating user owns the schema; every workload connects as its own role, so ingest, which
 * parses untrusted XML, can insert raw events and feed state and nothing else.
 */
export const STAGE_ROLES = {
  "inbound-dock": "ops_ingest",
  sortation: "ops_sortation",
  "lane-telemetry": "ops_telemetry",
  "dispatch-engine": "ops_engine",
  dispatcher: "ops_dispatcher",
  watchdog: "ops_watchdog",
  backup: "ops_backup",
  "ops-api": "ops_api",
} as const;

export type StageWithRole = keyof typeof STAGE_ROLES;
export type StageRole = (typeof STAGE_ROLES)[StageWithRole];
export const STAGE_ROLE_NAMES: readonly StageRole[] = Object.values(STAGE_ROLES);

export function isStageRole(name: string): name is StageRole {
  return (STAGE_ROLE_NAMES as readonly string[]).includes(name);
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, what psql's
 * \password and libpq's PQencryptPasswordConn compute). Sending the verifier instead of the
 * password keeps the plain password out of the server's statement log and pg_stat_activity.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(saslprep(password), salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/**
 * The parts of SASLprep (RFC 4013) that change bytes, as PostgreSQL and node-postgres apply them
 * before hashing: non-ASCII spaces to a space, "mapped to nothing" characters removed, NFKC.
 */
function saslprep(password: string): string {
  return password
    .replace(/[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g, " ")
    .replace(/\u00AD|\u034F|\u1806|\u180B|\u180C|\u180D|\u200C|\u200D|\u2060|[\uFE00-\uFE0F]|\uFEFF/g, "")
    .normalize("NFKC");
}

/**
 * Sets each stage role's password (as a SCRAM verifier), the step that makes a rotated secret
 * take effect: write the new value to the role's secret, run the migrator, restart the stage.
 * Connects with the migrating user's URL; roles must exist (run the migrations first).
 * @throws MigrationError naming the role when it is not a stage role or the ALTER fails.
 */
export async function setRolePasswords(
  connectionString: string,
  passwords: Readonly<Partial<Record<StageRole, string>>>,
): Promise<StageRole[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  const done: StageRole[] = [];
  try {
    for (const [role, password] of Object.entries(passwords)) {
      if (!isStageRole(role))
        throw new MigrationError("ROLE_UNKNOWN", `${role} is not a stage role`, {
          hint: `use one of ${STAGE_ROLE_NAMES.join(", ")}`,
        });
      if (!password) continue;
      try {
        // ALTER ROLE takes no bind parameters: quote both as the server would.
        await client.query(
          `ALTER ROLE ${client.escapeIdentifier(role)} WITH LOGIN PASSWORD ${client.escapeLiteral(scramVerifier(password))}`,
        );
      } catch (error) {
        throw new MigrationError("ROLE_PASSWORD", `could not set the password of role ${role}`, {
          hint: "run the migrations first (they create the roles), as the user that owns the schema",
          cause: error,
        });
      }
      done.push(role);
    }
  } finally {
    await client.end();
  }
  return done;
}

/** The same server and database as `url`, logged in as `role` (with `password` when given). */
export function roleDatabaseUrl(url: string, role: StageRole, password?: string): string {
  const parsed = new URL(url);
  parsed.username = role;
  parsed.password = password ? encodeURIComponent(password) : "";
  return parsed.toString();
}

/**
 * Reads each role's secret through the secrets port (RDS-style JSON with a `password`) and sets
 * the role's password from it: what the migrator does after migrating, so a rotated secret takes
 * effect with the next `opsctl migrate`.
 * @throws MigrationError when a secret is missing, not of that shape, or names an unknown role.
 */
export async function syncRolePasswords(
  connectionString: string,
  secretIds: Readonly<Record<string, string>>,
  secrets: SecretsProvider,
): Promise<StageRole[]> {
  const passwords: Partial<Record<StageRole, string>> = {};
  for (const [role, secretId] of Object.entries(secretIds)) {
    if (!isStageRole(role)) {
      throw new MigrationError(
        "ROLE_UNKNOWN",
        `OPS_DB_ROLE_SECRETS names ${role}, which is not a stage role`,
        {
          hint: `use the roles of ${STAGE_ROLE_NAMES.join(", ")}`,
        },
      );
    }
    const value = await secrets.get(secretId);
    let password: unknown;
    try {
      password = value === undefined ? undefined : (JSON.parse(value) as { password?: unknown }).password;
    } catch (error) {
      throw new MigrationError("ROLE_SECRET_SHAPE", `the secret of role ${role} is not JSON`, {
        cause: error,
      });
    }
    if (typeof password !== "string" || password.length < 16) {
      throw new MigrationError(
        "ROLE_SECRET_SHAPE",
        `the secret of role ${role} holds no password of 16+ characters`,
        {
          hint: "the secret must hold RDS-style JSON {username, password, host, port, dbname, url}",
        },
      );
    }
    passwords[role] = password;
  }
  return setRolePasswords(connectionString, passwords);
}
