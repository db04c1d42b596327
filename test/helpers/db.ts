import { randomBytes } from "node:crypto";
import { closeDatabase, connectDatabase, type DatabasePool } from "../../services/common/db.ts";
import { adminQuery, adminUrl, databaseUrl, TEMPLATE_DB } from "./global.ts";

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly pool: DatabasePool;
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
export function useTestDatabase(): TestDatabase {
  const state: { name?: string; url?: string; pool?: DatabasePool } = {};
  before(async () => {
    const created = await createDatabase({ migrated: true });
    state.name = created.name;
    state.url = created.url;
    state.pool = await connectDatabase({ url: created.url, ...TEST_POOL_OPTIONS });
  });
  after(async () => {
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
  };
}
