import assert from "node:assert/strict";
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { MigrationError } from "../../services/common/errors.ts";
import {
  MIGRATIONS_DIR,
  migrate,
  migrationStatus,
  readMigrationFiles,
} from "../../services/common/migrator.ts";
import { createDatabase, dropDatabase } from "../helpers/db.ts";

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    return result.rows.map((row) => row.table_name);
  } finally {
    await client.end();
  }
}

async function expectMigrationError(
  promise: Promise<unknown>,
  code: string,
  file?: string,
): Promise<MigrationError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof MigrationError, `expected MigrationError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (file) {
      assert.equal(error.file, file);
      assert.match(error.message, new RegExp(file.replace(".", "\\.")));
    }
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("migrator", () => {
  let db: { name: string; url: string };
  let dir: string;

  beforeEach(async () => {
    db = await createDatabase({ migrated: false });
    dir = await mkdtemp(path.join(os.tmpdir(), "ops-migrations-"));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
  });
  afterEach(async () => {
    await dropDatabase(db.name);
    await rm(dir, { recursive: true, force: true });
  });

  it("creates every table of the design on an empty database", async () => {
    const result = await migrate({ connectionString: db.url });
    const files = await readMigrationFiles();
    assert.deepEqual(
      result.applied,
      files.map((file) => file.filename),
    );
    const present = await tables(db.url);
    for (const table of [
      "feeds",
      "feed_state",
      "inbound_events_raw",
      "inbound_events_classified",
      "lane_telemetry",
      "dispatch_recommendations",
      "dispatch_executions",
      "params",
      "param_audit",
      "stage_heartbeats",
      "watchdog_state",
      "watchdog_alerts",
      "backups",
      "schema_migrations",
    ]) {
      assert.ok(present.includes(table), `missing table ${table}`);
    }
  });

  it("does nothing on a second run", async () => {
    await migrate({ connectionString: db.url });
    const second = await migrate({ connectionString: db.url });
    assert.deepEqual(second.applied, []);
    assert.equal(second.alreadyApplied, (await readMigrationFiles()).length);
  });

  it("refuses an applied file that was edited, by name", async () => {
    await migrate({ connectionString: db.url, directory: dir });
    await writeFile(path.join(dir, "0003_lane_telemetry.sql"), "-- edited\nSELECT 1;\n", { flag: "a" });
    await expectMigrationError(
      migrate({ connectionString: db.url, directory: dir }),
      "MIGRATION_EDITED",
      "0003_lane_telemetry.sql",
    );
    const status = await migrationStatus({ connectionString: db.url, directory: dir });
    assert.equal(status.find((entry) => entry.filename === "0003_lane_telemetry.sql")?.state, "edited");
  });

  it("refuses when an applied migration's file is missing, by name", async () => {
    await migrate({ connectionString: db.url, directory: dir });
    await rm(path.join(dir, "0006_operations.sql"));
    await expectMigrationError(
      migrate({ connectionString: db.url, directory: dir }),
      "MIGRATION_FILE_MISSING",
      "0006_operations.sql",
    );
  });

  it("rolls back a failing file whole and names it, keeping earlier files applied", async () => {
    await writeFile(
      path.join(dir, "0999_broken.sql"),
      "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n",
    );
    await expectMigrationError(
      migrate({ connectionString: db.url, directory: dir }),
      "MIGRATION_FAILED",
      "0999_broken.sql",
    );
    const present = await tables(db.url);
    assert.ok(!present.includes("half_done"), "the failing file's first statement must be rolled back");
    assert.ok(present.includes("feeds"));
    const status = await migrationStatus({ connectionString: db.url, directory: dir });
    assert.equal(status.find((entry) => entry.filename === "0999_broken.sql")?.state, "pending");
  });

  it("rejects a misnamed file and a duplicate number before touching the database", async () => {
    await writeFile(path.join(dir, "7_oops.sql"), "SELECT 1;");
    await expectMigrationError(
      migrate({ connectionString: db.url, directory: dir }),
      "MIGRATION_NAME_INVALID",
      "7_oops.sql",
    );
    await rm(path.join(dir, "7_oops.sql"));
    await writeFile(path.join(dir, "0002_again.sql"), "SELECT 1;");
    await expectMigrationError(migrate({ connectionString: db.url, directory: dir }), "MIGRATION_DUPLICATE");
    assert.deepEqual(await tables(db.url), []);
  });

  it("lets one of two simultaneous migrators apply while the other waits and applies nothing", async () => {
    const total = (await readMigrationFiles()).length;
    // Hold the first migrator inside its first file so the second surely arrives while it runs.
    await writeFile(path.join(dir, "0001_feeds.sql"), "SELECT pg_sleep(0.5);\n", { flag: "a" });
    const [a, b] = await Promise.all([
      migrate({ connectionString: db.url, directory: dir }),
      migrate({ connectionString: db.url, directory: dir }),
    ]);
    const counts = [a.applied.length, b.applied.length].sort();
    assert.deepEqual(counts, [0, total]);
    const waiter = a.applied.length === 0 ? a : b;
    assert.equal(waiter.alreadyApplied, total);
    assert.ok(waiter.waitedForLockMs >= 400, `the second migrator waited ${waiter.waitedForLockMs} ms`);
  });
});
