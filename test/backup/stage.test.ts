import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { backupDue, backupStage, latestSlot } from "../../services/backup/stage.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { envSecrets } from "../../services/common/secrets.ts";
import { loadStages } from "../../services/registry.ts";
import { useTestDatabase } from "../helpers/db.ts";

describe("the local nightly backup stage", function () {
  this.timeout(120_000);
  const db = useTestDatabase();
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "ops-backup-stage-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is due once per slot of the stack's schedule (03:30 UTC), catching up a missed one", () => {
    assert.equal(latestSlot(new Date("2026-11-20T03:29:59Z")).toISOString(), "2026-11-19T03:30:00.000Z");
    assert.equal(latestSlot(new Date("2026-11-20T03:30:00Z")).toISOString(), "2026-11-20T03:30:00.000Z");
    assert.equal(backupDue(new Date("2026-11-20T12:00:00Z"), null), true, "never backed up: at once");
    assert.equal(backupDue(new Date("2026-11-20T12:00:00Z"), new Date("2026-11-20T03:31:00Z")), false);
    assert.equal(backupDue(new Date("2026-11-21T03:35:00Z"), new Date("2026-11-20T03:31:00Z")), true);
    assert.equal(
      backupDue(new Date("2026-11-22T09:00:00Z"), new Date("2026-11-20T03:31:00Z")),
      true,
      "a laptop asleep at 03:30",
    );
  });

  it("is registered with the local runtime and takes one backup per slot into the local folder", async () => {
    assert.ok((await loadStages()).some((stage) => stage.name === "backup"));
    const config = loadConfig(
      { DATABASE_URL: db.url, OPS_DATA_DIR: dir, OPS_BACKUP_DIR: path.join(dir, "backups") },
      dir,
    );
    const clock = new FakeClock("2026-11-20T12:00:00Z");
    const context = {
      db: db.pool,
      clock,
      logger: createLogger({ level: "silent", pretty: false }),
      params: postgresParameterStore(db.pool),
      secrets: envSecrets({}),
      config,
      signal: new AbortController().signal,
      instance: "test:1",
    };
    const first = await backupStage.run(context);
    assert.equal(first?.due, true);
    assert.equal(typeof first?.id, "number", JSON.stringify(first));
    clock.advance(5 * 60_000);
    assert.deepEqual((await backupStage.run(context))?.due, false, "not twice in one slot");
    clock.set("2026-11-21T03:35:00Z");
    assert.equal((await backupStage.run(context))?.due, true);
    const succeeded = await db.pool.oneFirst(
      sql.unsafe`SELECT count(*) FROM backups WHERE status = 'SUCCEEDED'`,
    );
    assert.equal(Number(succeeded), 2);
    assert.ok((await readdir(path.join(dir, "backups"), { recursive: true })).length > 0);
  });
});
