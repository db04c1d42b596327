import { randomBytes } from "node:crypto";
import pg from "pg";
import { closeDatabase, connectDatabase, type DatabasePool } from "../../services/common/db.ts";
import { roleDatabaseUrl, type StageRole, setRolePasswords } from "../../services/common/roles.ts";
import { adminQuery, adminUrl, databaseUrl, TEMPLATE_DB } from "./global.ts";

export interface TestDatabase {
  readonly name: string;
  /** The owner's URL (the migrating user). */
  readonly url: string;
  /** The owner's pool: fixtures, assertions, anything a stage may not do. */
  readonly pool: DatabasePool;
  /**
   * A pool logged in as the stage role asked for (`useTestDatabase({ role })`): pass it to the
   * stage's core, so the suite proves the role's grants suffice. Without a role: the owner's pool.
   */
  readonly stagePool: DatabasePool;
  /** The URL `stagePool` logs in with (tools such as pg_dump take a URL). Without a role: `url`. */
  readonly stageUrl: string;
}

/**
 * The password test runs give the stage roles. Fixed, so that runs sharing one server (roles are
 * global to it) never invalidate each other's logins; only ever set on a test server.
 */
export const TEST_ROLE_PASSWORD = "ops-test-role-password";

/**
 * The URL logging in as `role` on the database at `url`. Under trust authentication the role logs
 * in as is; otherwise its password is set to TEST_ROLE_PASSWORD (through the migrator's own
 * setRolePasswords) first.
 */
export async function stageRoleUrl(url: string, role: StageRole): Promise<string> {
  const withPassword = roleDatabaseUrl(url, role, TEST_ROLE_PASSWORD);
  const probe = new pg.Client({ connectionString: withPassword });
  try {
    await probe.connect();
    return withPassword;
  } catch {
    // Not yet set (or another run's ALTER ROLE raced ours: "tuple concurrently updated"); set it once more.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await setRolePasswords(url, { [role]: TEST_ROLE_PASSWORD });
        return withPassword;
      } catch (error) {
        if (attempt >= 2) throw error;
      }
    }
  } finally {
    await probe.end().catch(() => undefined);
  }
}

export const TEST_POOL_OPTIONS = {
  statementTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  maximumPoolSize: 10,
};

/** Creates a database: a clone of the migrated template, or empty. Returns its name and URL. */
export async function createDatabase(options: { migrated: boolean }): Promise<{ name: string; url: string }> {
  const name = `ops_test_${randomBytes(5).toString("hex")}`;
  await adminQuery(
    options.migrated ? `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}` : `CREATE DATABASE ${name}`,
  );
  return { name, url: databaseUrl(adminUrl(), name) };
}

export async function dropDatabase(name: string): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/**
 * Gives the calling `describe` block its own migrated database and pool, dropped afterwards.
 * Use the returned object's fields inside hooks and tests (they are set in `before`).
 */
export function useTestDatabase(options: { role?: StageRole } = {}): TestDatabase {
  const state: {
    name?: string;
    url?: string;
    pool?: DatabasePool;
    stagePool?: DatabasePool;
    stageUrl?: string;
  } = {};
  before(async () => {
    const created = await createDatabase({ migrated: true });
    state.name = created.name;
    state.url = created.url;
    state.pool = await connectDatabase({ url: created.url, ...TEST_POOL_OPTIONS });
    state.stageUrl = options.role ? await stageRoleUrl(created.url, options.role) : created.url;
    state.stagePool = options.role
      ? await connectDatabase({ url: state.stageUrl, ...TEST_POOL_OPTIONS })
      : state.pool;
  });
  after(async () => {
    if (state.stagePool && state.stagePool !== state.pool) await closeDatabase(state.stagePool);
    if (state.pool) await closeDatabase(state.pool);
    if (state.name) await dropDatabase(state.name);
  });
  return {
    get name() {
      if (!state.name) throw new Error("test database used outside a test");
      return state.name;
    },
    get url() {
      if (!state.url) throw new Error("test database used outside a test");
      return state.url;
    },
    get pool() {
      if (!state.pool) throw new Error("test database used outside a test");
      return state.pool;
    },
    get stageUrl() {
      if (!state.stageUrl) throw new Error("test database used outside a test");
      return state.stageUrl;
    },
    get stagePool() {
      if (!state.stagePool) throw new Error("test database used outside a test");
      return state.stagePool;
    },
  };
}
