// Mocha global fixtures (loaded through .mocharc.json `require`): one PostgreSQL server for the
// whole run and one migrated template database; each test file clones its own from the template.
// DATABASE_URL picks an existing server (CI runs the suites once more against the machine's own);
// otherwise an embedded server runs in a temporary folder and is removed afterwards.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../../services/common/embedded-postgres.ts";
import { migrate } from "../../services/common/migrator.ts";

// No test reaches the real model hub: sortation's default FinBERT download (and every child
// process spawned with this environment) meets a refused connection at once and falls back to
// the lexicon, as it would offline. Tests of the download run their own hub on 127.0.0.1.
process.env.OPS_SORTATION_HUB_URL ??= "http://127.0.0.1:9";

let server: EmbeddedPostgres | undefined;
let tempDir: string | undefined;

export const TEMPLATE_DB = `ops_test_template_${process.pid}`;

export function adminUrl(): string {
  const url = process.env.OPS_TEST_ADMIN_URL;
  if (!url) throw new Error("test database server not started (test/helpers/global.ts did not run)");
  return url;
}

export function databaseUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) {
    process.env.OPS_TEST_ADMIN_URL = process.env.DATABASE_URL;
  } else {
    // The postgres user (the server's, when tests run as root) must be able to enter this folder.
    tempDir = await mkdtemp(path.join(os.tmpdir(), "ops-pipeline-test-"));
    await chmod(tempDir, 0o755);
    server = await startEmbeddedPostgres({ dataDir: path.join(tempDir, "pgdata") });
    process.env.OPS_TEST_ADMIN_URL = server.url;
  }
  await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB}`);
  await adminQuery(`CREATE DATABASE ${TEMPLATE_DB}`);
  await migrate({ connectionString: databaseUrl(adminUrl(), TEMPLATE_DB) });
}

export async function mochaGlobalTeardown(): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`).catch(() => undefined);
  await server?.stop();
  if (tempDir) await rm(tempDir, { recursive: true, force: true });
}
