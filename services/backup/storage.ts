import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { OperatorError } from "../common/errors.ts";

/** Where dumps live: an S3 bucket on AWS, a folder locally. Keys use `/` on both. */
export interface BackupStorage {
  readonly kind: "s3" | "local";
  /** Human-readable location of a key, for messages. */
  describe(key: string): string;
  /**
   * Stores a stream under `key`; the object appears whole or not at all.
   * @throws StorageError
   */
  put(key: string, body: Readable): Promise<void>;
  /** @throws StorageError (code BACKUP_OBJECT_MISSING when absent) */
  get(key: string): Promise<Readable>;
  /** Objects whose key starts with `prefix`. @throws StorageError */
  list(prefix: string): Promise<Array<{ key: string; size: number }>>;
  /** Deletes one object; deleting an absent one is not an error. @throws StorageError */
  delete(key: string): Promise<void>;
}

export class StorageError extends OperatorError {
  override readonly name = "StorageError";
}

/** A folder: writes go to `<key>.partial` and are renamed, so a crash never leaves a torn dump. */
export function localBackupStorage(root: string): BackupStorage {
  const fileOf = (key: string) => {
    const file = path.resolve(root, key);
    if (!file.startsWith(path.resolve(root) + path.sep))
      throw new StorageError("BACKUP_KEY_INVALID", `key ${key} escapes ${root}`);
    return file;
  };
  return {
    kind: "local",
    describe: (key) => fileOf(key),
    async put(key, body) {
      const file = fileOf(key);
      const partial = `${file}.partial`;
      try {
        await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
        await pipeline(body, createWriteStream(partial, { mode: 0o600 }));
        await rename(partial, file);
      } catch (error) {
        await rm(partial, { force: true });
        throw new StorageError("BACKUP_WRITE_FAILED", `cannot write ${file}: ${(error as Error).message}`, {
          hint: "check free space and permissions of the backup folder (OPS_BACKUP_DIR)",
          cause: error,
        });
      }
    },
    async get(key) {
      const file = fileOf(key);
      try {
        await stat(file);
      } catch (error) {
        throw new StorageError("BACKUP_OBJECT_MISSING", `backup file ${file} does not exist`, {
          hint: "it was deleted by hand or by retention; pick another backup with `opsctl backup list`",
          cause: error,
        });
      }
      return createReadStream(file);
    },
    async list(prefix) {
      const out: Array<{ key: string; size: number }> = [];
      const walk = async (dir: string): Promise<void> => {
        let entries: import("node:fs").Dirent[];
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
          throw error;
        }
        for (const entry of entries) {
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) await walk(full);
          else if (entry.isFile()) {
            const key = path.relative(root, full).split(path.sep).join("/");
            if (key.startsWith(prefix)) out.push({ key, size: (await stat(full)).size });
          }
        }
      };
      await walk(root);
      return out.sort((a, b) => a.key.localeCompare(b.key));
    },
    async delete(key) {
      await rm(fileOf(key), { force: true });
    },
  };
}

/**
 * An S3 bucket. Uploads go through lib-storage's Upload: a multipart upload in 8 MiB parts
 * (2 in flight) for a stream of unknown length, a single PutObject when it fits in one part;
 * S3 shows the object only once CompleteMultipartUpload succeeds, and Upload aborts the
 * multipart upload when a part fails (the bucket's lifecycle rule cleans any it could not abort).
 */
export function s3BackupStorage(
  client: S3Client,
  bucket: string,
  options: { partSizeBytes?: number } = {},
): BackupStorage {
  const wrap = (what: string, error: unknown) =>
    new StorageError("BACKUP_S3_FAILED", `S3 ${what} failed: ${(error as Error).message}`, {
      hint: "check the bucket name (OPS_BACKUP_BUCKET), the region and the task role's S3 permissions",
      cause: error,
    });
  return {
    kind: "s3",
    describe: (key) => `s3://${bucket}/${key}`,
    async put(key, body) {
      const { Upload } = await import("@aws-sdk/lib-storage");
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: body, ContentType: "application/octet-stream" },
        partSize: options.partSizeBytes ?? 8 * 1024 * 1024,
        queueSize: 2,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        throw wrap(`upload of ${key}`, error);
      }
    },
    async get(key) {
      const { GetObjectCommand, NoSuchKey } = await import("@aws-sdk/client-s3");
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return response.Body as Readable;
      } catch (error) {
        if (error instanceof NoSuchKey) {
          throw new StorageError("BACKUP_OBJECT_MISSING", `s3://${bucket}/${key} does not exist`, {
            hint: "it was deleted by retention or the lifecycle rule; pick another backup with `opsctl backup list`",
            cause: error,
          });
        }
        throw wrap(`download of ${key}`, error);
      }
    },
    async list(prefix) {
      const { ListObjectsV2Command } = await import("@aws-sdk/client-s3");
      const out: Array<{ key: string; size: number }> = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
          );
          for (const object of page.Contents ?? []) {
            if (object.Key) out.push({ key: object.Key, size: object.Size ?? 0 });
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (error) {
        throw wrap(`listing of ${prefix}`, error);
      }
      return out.sort((a, b) => a.key.localeCompare(b.key));
    },
    async delete(key) {
      const { DeleteObjectCommand } = await import("@aws-sdk/client-s3");
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        throw wrap(`delete of ${key}`, error);
      }
    },
  };
}
