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
}

export class BackupBucket extends pulumi.ComponentResource {
  readonly bucket: aws.s3.Bucket;

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
    this.registerOutputs({ bucket: this.bucket.bucket });
  }
}
