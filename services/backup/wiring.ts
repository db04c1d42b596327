import type { Config } from "../common/config.ts";
import { ConfigError } from "../common/errors.ts";
import { type BackupStorage, localBackupStorage } from "./storage.ts";

/** The storage new backups go to: the bucket on AWS, the local folder otherwise. */
export function defaultStorageKind(config: Config): "s3" | "local" {
  return config.target === "aws" ? "s3" : "local";
}

/** Key prefix per storage: the configured one in the bucket; none inside the local folder (it is the backups folder). */
export function prefixFor(kind: "s3" | "local", config: Config): string {
  return kind === "s3" ? config.backup.prefix : "";
}

/**
 * Builds the storage a backup lives in (a restore uses the backup's own kind).
 * @throws ConfigError naming OPS_BACKUP_BUCKET (or AWS_REGION) when S3 is needed but unset.
 */
export async function storageFor(kind: "s3" | "local", config: Config): Promise<BackupStorage> {
  if (kind === "local") return localBackupStorage(config.backup.dir);
  if (!config.backup.bucket) {
    throw new ConfigError(
      "OPS_BACKUP_BUCKET",
      "is required for backups in S3",
      "set it to the stack's backup bucket",
    );
  }
  if (!config.aws.region)
    throw new ConfigError("AWS_REGION", "is required for backups in S3", "set the stack's region");
  const [{ S3Client }, { s3BackupStorage }] = await Promise.all([
    import("@aws-sdk/client-s3"),
    import("./storage.ts"),
  ]);
  return s3BackupStorage(new S3Client({ region: config.aws.region }), config.backup.bucket);
}
