import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { dropDatabase, useTestDatabase } from "../helpers/db.ts";
import { seedPipelineRows } from "./fixtures.ts";

const run = promisify(execFile);

describe("opsctl backup (the command, spawned)", function () {
  this.timeout(120_000);
  const db = useTestDatabase();
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "ops-backup-cli-"));
    await seedPipelineRows(db.pool, "cli");
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  async function opsctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ["--import", "tsx", "cli/src/main.ts", ...args],
        {
          env: { ...process.env, DATABASE_URL: db.url, OPS_DATA_DIR: dataDir, LOG_LEVEL: "warn" },
        },
      );
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it("takes a backup into the data folder, lists it, and restores it verified, with --json shapes", async () => {
    const now = await opsctl("--json", "backup", "now");
    assert.equal(now.code, 0, now.stderr);
    const backup = JSON.parse(now.stdout) as {
      id: number;
      key: string;
      manifest: { tables: Record<string, number> };
    };
    assert.deepEqual(await readdir(path.join(dataDir, "backups")), [backup.key]);
    assert.equal(backup.manifest.tables["public.lane_telemetry"], 25);

    const list = await opsctl("--json", "backup", "list");
    assert.equal(list.code, 0, list.stderr);
    const { backups } = JSON.parse(list.stdout) as { backups: Array<{ id: number; status: string }> };
    assert.deepEqual(
      backups.map((b) => [b.id, b.status]),
      [[backup.id, "SUCCEEDED"]],
    );

    const restore = await opsctl("--json", "backup", "restore", String(backup.id), "--verify");
    assert.equal(restore.code, 0, restore.stderr);
    const restored = JSON.parse(restore.stdout) as { target: string; verified: boolean; created: boolean };
    assert.equal(restored.verified, true);
    assert.equal(restored.created, true);
    await dropDatabase(new URL(restored.target).pathname.slice(1));
  });

  it("exits 2 with a next step for an unknown backup id and a malformed one", async () => {
    const missing = await opsctl("backup", "restore", "424242");
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /backup 424242 does not exist/);
    assert.match(missing.stderr, /next: list backups with `opsctl backup list`/);
    const malformed = await opsctl("backup", "restore", "abc");
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /must be a backup id/);
  });
});
