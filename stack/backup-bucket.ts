import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/**
 * The bucket for nightly pg_dump files: private, encrypted, TLS-only. The backup job keeps the
 * last 7 dumps itself; the lifecycle rule is a safety net that expires anything older than
 * `expirationDays` should the job's pruning fail, and cleans up failed multipart uploads.
 */
export interface BackupBucketArgs {
  /** Days after which any object expires, whatever the backup job does; above 7. */
  expirationDays: number;
  /** Empty the bucket on `pulumi destroy` (dev stacks only). */
  forceDestroy: boolean;
  /**
   * S3 server access logs (who read or deleted which dump) into a bucket of their own: production.
   * Free to deliver; the log objects cost storage (kept `accessLogDays`).
   */
  accessLogs: boolean;
  /** The account that owns the bucket: the logging service may write only for it. */
  accountId: pulumi.Input<string>;
}

/** How long access logs are kept. */
export const ACCESS_LOG_DAYS = 90;

export class BackupBucket extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;
  readonly logBucket: aws.s3.Bucket | undefined;

  constructor(name: string, args: BackupBucketArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:BackupBucket", name, {}, opts);
    const parent = { parent: this };
    if (args.expirationDays <= 7) {
      throw new Error(
        `backup expiration must exceed the 7 dumps the job keeps, got ${args.expirationDays} days`,
      );
    }
    this.bucket = new aws.s3.Bucket(`${name}-bucket`, { forceDestroy: args.forceDestroy }, parent);
    const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
      `${name}-public-access`,
      {
        bucket: this.bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketOwnershipControls(
      `${name}-ownership`,
      { bucket: this.bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-encryption`,
      {
        bucket: this.bucket.id,
        // SSE-S3: encrypted at rest with no KMS key to pay for ($1/month) or to grant.
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
      },
      parent,
    );
    new aws.s3.BucketVersioning(
      `${name}-versioning`,
      { bucket: this.bucket.id, versioningConfiguration: { status: "Enabled" } },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-lifecycle`,
      {
        bucket: this.bucket.id,
        rules: [
          {
            id: "safety-net",
            status: "Enabled",
            filter: {},
            expiration: { days: args.expirationDays },
            // A dump the job pruned stays recoverable for 7 days as a noncurrent version.
            noncurrentVersionExpiration: { noncurrentDays: 7 },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
          },
        ],
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-tls-only`,
      {
        bucket: this.bucket.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
      // S3 refuses concurrent policy and public-access-block changes on one bucket.
      { parent: this, dependsOn: [publicAccessBlock] },
    );
    this.logBucket = args.accessLogs ? this.createAccessLogs(name, args) : undefined;
    this.registerOutputs({ bucket: this.bucket.bucket });
  }

  /**
   * The log bucket: private, SSE-S3 (server access logging cannot write to SSE-KMS buckets),
   * owner-enforced, TLS-only, objects expiring after ACCESS_LOG_DAYS; only the S3 logging service
   * may put objects, and only for the backup bucket of this account (aws:SourceArn/SourceAccount).
   */
  private createAccessLogs(name: string, args: BackupBucketArgs): aws.s3.Bucket {
    const parent = { parent: this };
    const logs = new aws.s3.Bucket(`${name}-access-logs`, { forceDestroy: args.forceDestroy }, parent);
    const block = new aws.s3.BucketPublicAccessBlock(
      `${name}-access-logs-public-access`,
      {
        bucket: logs.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketOwnershipControls(
      `${name}-access-logs-ownership`,
      { bucket: logs.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-access-logs-encryption`,
      { bucket: logs.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-access-logs-lifecycle`,
      {
        bucket: logs.id,
        rules: [
          { id: "expire-access-logs", status: "Enabled", filter: {}, expiration: { days: ACCESS_LOG_DAYS } },
        ],
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-access-logs-policy`,
      {
        bucket: logs.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "S3ServerAccessLogs",
              Effect: "Allow",
              Principal: { Service: "logging.s3.amazonaws.com" },
              Action: "s3:PutObject",
              Resource: pulumi.interpolate`${logs.arn}/backups/*`,
              Condition: {
                ArnLike: { "aws:SourceArn": this.bucket.arn },
                StringEquals: { "aws:SourceAccount": args.accountId },
              },
            },
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [logs.arn, pulumi.interpolate`${logs.arn}/*`],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      },
      { parent: this, dependsOn: [block] },
    );
    new aws.s3.BucketLogging(
      `${name}-access-logging`,
      { bucket: this.bucket.id, targetBucket: logs.id, targetPrefix: "backups/" },
      parent,
    );
    return logs;
  }
}
