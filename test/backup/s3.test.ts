import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { S3Client } from "@aws-sdk/client-s3";
import { runBackup } from "../../services/backup/backup.ts";
import { findPgTool } from "../../services/backup/pg-tools.ts";
import { restoreBackup } from "../../services/backup/restore.ts";
import { StorageError, s3BackupStorage } from "../../services/backup/storage.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { createLogger } from "../../services/common/logger.ts";
import { dropDatabase, TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";
import { type FakeS3, startFakeS3 } from "./fake-s3.ts";
import { seedPipelineRows } from "./fixtures.ts";

const logger = createLogger({ level: "silent", pretty: false });
const MiB = 1024 * 1024;

describe("S3 backup storage against a local server speaking the S3 REST API", function () {
  this.timeout(120_000);
  let s3: FakeS3;
  let client: S3Client;
  before(async () => {
    s3 = await startFakeS3("ops-backups");
    client = new S3Client({
      region: "eu-west-1",
      endpoint: s3.url,
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "test-secret" },
      maxAttempts: 1,
    });
  });
  after(async () => {
    client.destroy();
    await s3.close();
  });
  beforeEach(() => {
    s3.requests.length = 0;
    s3.objects.clear();
  });

  it("uploads a stream larger than a part as a multipart upload: create, one request per part, complete", async () => {
    const data = randomBytes(12 * MiB);
    // An object stream in 1 MiB chunks: lib-storage cannot know the length up front.
    const chunks = Array.from({ length: 12 }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB));
    await s3BackupStorage(client, "ops-backups", { partSizeBytes: 5 * MiB }).put(
      "backups/ops-pipeline-20261125T000000000Z.dump",
      Readable.from(chunks),
    );
    const ops = s3.operations();
    assert.equal(ops[0], "CreateMultipartUpload");
    assert.deepEqual(
      ops.filter((op) => op === "UploadPart").length,
      3,
      `three parts of 5, 5 and 2 MiB: ${ops.join(", ")}`,
    );
    assert.equal(ops.at(-1), "CompleteMultipartUpload");
    for (const request of s3.requests) {
      assert.match(request.url, /^\/ops-backups\/backups\/ops-pipeline-20261125T000000000Z\.dump/);
      assert.match(
        String(request.headers.authorization),
        /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/s3\//,
      );
    }
    const stored = s3.objects.get("backups/ops-pipeline-20261125T000000000Z.dump");
    assert.equal(
      createHash("sha256")
        .update(stored ?? "")
        .digest("hex"),
      createHash("sha256").update(data).digest("hex"),
    );
  });

  it("lists by prefix, reads back and deletes objects", async () => {
    const storage = s3BackupStorage(client, "ops-backups");
    s3.objects.set("backups/a.dump", Buffer.from("aaa"));
    s3.objects.set("backups/b.dump", Buffer.from("bb"));
    s3.objects.set("other/c.dump", Buffer.from("c"));
    assert.deepEqual(await storage.list("backups/"), [
      { key: "backups/a.dump", size: 3 },
      { key: "backups/b.dump", size: 2 },
    ]);
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get("backups/a.dump")) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), "aaa");
    await storage.delete("backups/a.dump");
    assert.deepEqual([...s3.objects.keys()].sort(), ["backups/b.dump", "other/c.dump"]);
    assert.deepEqual(s3.operations(), ["ListObjectsV2", "GetObject", "DeleteObject"]);
    const list = new URL(s3.requests[0]?.url ?? "", "http://x");
    assert.equal(list.searchParams.get("prefix"), "backups/");
    await assert.rejects(
      storage.get("backups/missing.dump"),
      (error: unknown) => error instanceof StorageError && error.code === "BACKUP_OBJECT_MISSING",
    );
  });

  describe("a real backup into the bucket", () => {
    const db = useTestDatabase();
    const clock = new FakeClock("2026-11-20T03:00:00Z");
    before(async () => {
      await seedPipelineRows(db.pool);
    });

    it("dumps under the prefix, applies retention with list and delete, and restores from a GetObject", async () => {
      const pgDump = await findPgTool("pg_dump");
      const storage = s3BackupStorage(client, "ops-backups");
      const keys: string[] = [];
      for (let i = 0; i < 3; i++) {
        clock.advance(86_400_000);
        const result = await runBackup({
          db: db.pool,
          databaseUrl: db.url,
          pgDump,
          storage,
          prefix: "backups/",
          keep: 2,
          clock,
          logger,
        });
        keys.push(result.key);
        assert.equal(result.location, `s3://ops-backups/${result.key}`);
      }
      assert.deepEqual([...s3.objects.keys()].sort(), keys.slice(1));
      const ops = s3.operations();
      // A dump this small fits one part: lib-storage sends a single PutObject.
      assert.equal(ops.filter((op) => op === "PutObject").length, 3);
      assert.equal(ops.filter((op) => op === "ListObjectsV2").length, 3);
      const deletes = s3.requests
        .filter((r) => r.method === "DELETE")
        .map((r) => decodeURIComponent(new URL(r.url, "http://x").pathname));
      assert.deepEqual(deletes, [`/ops-backups/${keys[0]}`]);

      const [, second] = keys;
      const id = (await import("../../services/backup/log.ts")).listBackups(db.pool);
      const row = (await id).find((r) => r.object_key === second);
      assert.ok(row);
      const restored = await restoreBackup(
        {
          db: db.pool,
          databaseUrl: db.url,
          pgRestore: await findPgTool("pg_restore"),
          storageFor: async (kind) => {
            assert.equal(kind, "s3");
            return storage;
          },
          clock,
          logger,
          poolOptions: TEST_POOL_OPTIONS,
        },
        { id: row.id, verify: true },
      );
      await dropDatabase(new URL(restored.target).pathname.slice(1));
      assert.equal(restored.verified, true);
      assert.ok(s3.operations().includes("GetObject"));
    });
  });
});
