import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { chmod, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as z from "zod";
import { applyRetention, BackupFailedError, runBackup } from "../../services/backup/backup.ts";
import { getBackup, listBackups } from "../../services/backup/log.ts";
import { findPgTool, type PgTool, PgToolError } from "../../services/backup/pg-tools.ts";
import {
  ChecksumMismatchError,
  type RestoreDeps,
  RestoreError,
  restoreBackup,
} from "../../services/backup/restore.ts";
import { localBackupStorage } from "../../services/backup/storage.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { closeDatabase, connectDatabase, sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { createDatabase, dropDatabase, TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";
import { seedPipelineRows } from "./fixtures.ts";

const logger = createLogger({ level: "silent", pretty: false });
const DAY = 86_400_000;

function databaseName(url: string): string {
  return new URL(url).pathname.slice(1);
}

describe("backup and restore with the real pg_dump and pg_restore", function () {
  this.timeout(120_000);
  const db = useTestDatabase({ role: STAGE_ROLES.backup });
  const clock = new FakeClock("2026-11-20T03:00:00Z");
  let dir: string;
  let pgDump: PgTool;
  let pgRestore: PgTool;
  const created: string[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ops-backup-test-"));
    pgDump = await findPgTool("pg_dump");
    pgRestore = await findPgTool("pg_restore");
    await seedPipelineRows(db.pool);
  });
  after(async () => {
    for (const name of created) await dropDatabase(name);
    await rm(dir, { recursive: true, force: true });
  });

  const deps = (overrides: Partial<Parameters<typeof runBackup>[0]> = {}) => ({
    db: db.stagePool,
    databaseUrl: db.stageUrl,
    pgDump,
    storage: localBackupStorage(dir),
    prefix: "",
    keep: 7,
    clock,
    logger,
    ...overrides,
  });
  const restoreDeps = (): RestoreDeps => ({
    db: db.pool,
    databaseUrl: db.url,
    pgRestore,
    storageFor: async () => localBackupStorage(dir),
    clock,
    logger,
    poolOptions: TEST_POOL_OPTIONS,
  });

  it("finds pg_dump on PATH and reads its major version", () => {
    assert.match(pgDump.path, /pg_dump$/);
    assert.ok(pgDump.major >= 15, `pg_dump ${pgDump.version}`);
  });

  it("dumps to a timestamped file and records size, sha256 and a row count per table", async () => {
    const progress: number[] = [];
    const result = await runBackup(deps({ onProgress: (p) => progress.push(p.bytes) }));
    assert.match(result.key, /^ops-pipeline-20261120T030000000Z\.dump$/);
    const bytes = await readFile(path.join(dir, result.key));
    assert.equal(bytes.subarray(0, 5).toString("latin1"), "PGDMP", "a custom-format archive");
    assert.equal(result.sizeBytes, bytes.length);
    assert.equal(result.sha256, createHash("sha256").update(bytes).digest("hex"));
    assert.equal(progress.at(-1), bytes.length);
    assert.equal(result.manifest.tables["public.inbound_events_raw"], 40);
    assert.equal(result.manifest.tables["public.inbound_events_classified"], 20);
    assert.equal(result.manifest.tables["public.lane_telemetry"], 25);
    // The backups row of this very backup is in the dump, as RUNNING: the snapshot saw it so.
    assert.equal(result.manifest.tables["public.backups"], 1);
    const row = await getBackup(db.pool, result.id);
    assert.equal(row.status, "SUCCEEDED");
    assert.equal(row.sha256, result.sha256);
    assert.equal(row.size_bytes, result.sizeBytes);
    assert.deepEqual(row.manifest, result.manifest);
  });

  it("restores into a new database with row counts equal to the manifest", async () => {
    const [latest] = await listBackups(db.pool);
    assert.ok(latest);
    const result = await restoreBackup(restoreDeps(), { id: latest.id, verify: true });
    created.push(databaseName(result.target));
    assert.equal(result.created, true);
    assert.equal(result.verified, true);
    assert.ok(result.tables.length >= 10);
    for (const table of result.tables) assert.equal(table.actual, table.expected, table.table);
    // Checked independently of the restore's own verification.
    const restored = await connectDatabase({
      url: db.url.replace(databaseName(db.url), databaseName(result.target)),
      ...TEST_POOL_OPTIONS,
    });
    try {
      const titles = await restored.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*) AS n FROM inbound_events_raw WHERE title LIKE 'Headline %'`);
      assert.equal(titles, 40);
    } finally {
      await closeDatabase(restored);
    }
  });

  it("restores into an empty database given by URL and refuses one that is not empty", async () => {
    const [latest] = await listBackups(db.pool);
    assert.ok(latest);
    const empty = await createDatabase({ migrated: false });
    created.push(empty.name);
    const result = await restoreBackup(restoreDeps(), { id: latest.id, targetUrl: empty.url, verify: true });
    assert.equal(result.created, false);
    await assert.rejects(
      restoreBackup(restoreDeps(), { id: latest.id, targetUrl: empty.url, verify: true }),
      (error: unknown) => error instanceof RestoreError && error.code === "RESTORE_TARGET_NOT_EMPTY",
    );
  });

  it("detects a corrupted dump by its checksum before restoring anything", async () => {
    const [latest] = await listBackups(db.pool);
    assert.ok(latest);
    const file = path.join(dir, latest.object_key);
    const original = await readFile(file);
    const handle = await open(file, "r+");
    try {
      // One flipped byte in the middle: same size, different content.
      const at = Math.floor(original.length / 2);
      await handle.write(Buffer.from([(original[at] ?? 0) ^ 0xff]), 0, 1, at);
    } finally {
      await handle.close();
    }
    const countDatabases = () =>
      db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'ops\\_restore\\_%'`);
    const before = await countDatabases();
    await assert.rejects(restoreBackup(restoreDeps(), { id: latest.id, verify: true }), (error: unknown) => {
      assert.ok(error instanceof ChecksumMismatchError);
      assert.match(error.message, /is corrupted: .* has sha256 [0-9a-f]{64} .* recorded [0-9a-f]{64}/);
      return true;
    });
    assert.equal(await countDatabases(), before, "no database was created for a corrupted dump");
    await writeFile(file, original);
  });

  it("refuses a pg_dump older than the server before recording or dumping anything", async () => {
    const before = (await listBackups(db.pool)).length;
    const old: PgTool = { ...pgDump, major: 14, version: "14.11" };
    await assert.rejects(runBackup(deps({ pgDump: old })), (error: unknown) => {
      assert.ok(error instanceof PgToolError);
      assert.match(
        error.message,
        /pg_dump 14\.11 .* is older than the PostgreSQL 1\d\.\d+.* server: its major version must be 1\d or newer/,
      );
      assert.match(error.hint ?? "", /postgresql-client-1\d|OPS_PG_BIN_DIR/);
      return true;
    });
    assert.equal((await listBackups(db.pool)).length, before);
  });

  it("names the folder when OPS_PG_BIN_DIR holds no pg_dump", async () => {
    await assert.rejects(findPgTool("pg_dump", { binDir: dir }), (error: unknown) => {
      return error instanceof PgToolError && error.code === "PG_TOOL_MISSING" && error.message.includes(dir);
    });
  });

  it("records a failed dump as FAILED with pg_dump's message and keeps no object", async () => {
    const bogus = new URL(db.url);
    bogus.pathname = "/ops_no_such_database";
    clock.advance(1_000);
    await assert.rejects(runBackup(deps({ databaseUrl: bogus.toString() })), BackupFailedError);
    const [row] = await listBackups(db.pool);
    assert.equal(row?.status, "FAILED");
    assert.match(row?.error ?? "", /ops_no_such_database/);
    const files = await readdir(dir);
    assert.ok(!files.includes(row?.object_key ?? "?"), "the failed dump's file is gone");
    assert.ok(!files.some((name) => name.endsWith(".partial")));
  });

  it("keeps exactly the newest 7 successful backups and deletes every other dump", async () => {
    // A leftover of a crashed run and a file that is not ours: the first goes, the second stays.
    await writeFile(path.join(dir, "ops-pipeline-20200101T000000000Z.dump"), "torn");
    await writeFile(path.join(dir, "notes.txt"), "operator notes");
    const made: string[] = [];
    for (let i = 0; i < 9; i++) {
      clock.advance(DAY);
      made.push((await runBackup(deps())).key);
    }
    const files = (await readdir(dir)).filter((name) => name.endsWith(".dump")).sort();
    assert.deepEqual(files, made.slice(-7));
    assert.ok((await readdir(dir)).includes("notes.txt"));
    const rows = await listBackups(db.pool, 100);
    const live = rows
      .filter((row) => row.deleted_at === null && row.status === "SUCCEEDED")
      .map((row) => row.object_key);
    assert.deepEqual(live.sort(), made.slice(-7));
    // Running it again changes nothing.
    const again = await applyRetention(deps());
    assert.deepEqual(again.deleted, []);
    assert.equal(again.kept.length, 7);
  });

  it("refuses to restore a backup deleted by retention", async () => {
    const rows = await listBackups(db.pool, 100);
    const gone = rows.find((row) => row.deleted_at !== null && row.status === "SUCCEEDED");
    assert.ok(gone);
    await assert.rejects(
      restoreBackup(restoreDeps(), { id: gone.id, verify: false }),
      (error: unknown) => error instanceof RestoreError && error.code === "BACKUP_DELETED",
    );
  });

  it("makes the backup folder private to its owner", async () => {
    const sub = path.join(dir, "nested");
    await chmod(dir, 0o755);
    const storage = localBackupStorage(sub);
    const { Readable } = await import("node:stream");
    await storage.put("x/ops-pipeline-20260101T000000000Z.dump", Readable.from([Buffer.from("x")]));
    const stat = await (await import("node:fs/promises")).stat(
      path.join(sub, "x/ops-pipeline-20260101T000000000Z.dump"),
    );
    assert.equal(stat.mode & 0o777, 0o600);
    for (const folder of [sub, path.join(sub, "x")]) {
      assert.equal((await (await import("node:fs/promises")).stat(folder)).mode & 0o777, 0o700, folder);
    }
    await rm(sub, { recursive: true });
  });

  it("stops pg_dump and records FAILED when the upload fails, instead of hanging on a full pipe", async () => {
    // Enough incompressible rows that the dump outgrows the 64 KiB pipe buffer.
    await db.pool.query(
      sql.unsafe`CREATE TABLE bulky AS SELECT md5(g::text) || md5((g * 7)::text) AS v FROM generate_series(1, 60000) AS g`,
    );
    try {
      const { StorageError } = await import("../../services/backup/storage.ts");
      const failing = {
        ...localBackupStorage(dir),
        async put() {
          throw new StorageError("BACKUP_S3_FAILED", "S3 upload failed: SlowDown");
        },
      };
      clock.advance(1_000);
      await assert.rejects(runBackup(deps({ storage: failing })), /SlowDown/);
      const [row] = await listBackups(db.pool);
      assert.equal(row?.status, "FAILED");
      assert.match(row?.error ?? "", /SlowDown/);
    } finally {
      await db.pool.query(sql.unsafe`DROP TABLE bulky`);
    }
  });

  it("drops the database it created when pg_restore fails, and says why", async () => {
    const [good] = (await listBackups(db.pool, 100)).filter(
      (row) => row.status === "SUCCEEDED" && row.deleted_at === null,
    );
    assert.ok(good);
    const countDatabases = () =>
      db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'ops\\_restore\\_%'`);
    const before = await countDatabases();
    const broken: PgTool = { ...pgRestore, path: "/bin/false" };
    await assert.rejects(
      restoreBackup({ ...restoreDeps(), pgRestore: broken }, { id: good.id, verify: true }),
      (error: unknown) => error instanceof RestoreError && error.code === "RESTORE_FAILED",
    );
    assert.equal(await countDatabases(), before);
  });
});
