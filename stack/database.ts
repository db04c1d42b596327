import { randomBytes } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/**
 * RDS PostgreSQL 17 in the isolated subnets, reachable on 5432 from the app security group only,
 * with its credentials in one Secrets Manager secret.
 *
 * Credentials: a password generated here, stored in our own secret as RDS-style JSON plus a
 * ready `url` (sslmode=require), rather than the RDS-managed master secret. Why: the managed
 * secret holds only username and password (the services' `databaseUrlFromRdsSecret` needs host
 * and dbname too) and rotates every 7 days by default, while the Fargate loops read the secret
 * once per process (services/common/secrets.ts caches it); a silent rotation would break them.
 * ECS injects `url` as DATABASE_URL, so tasks never call Secrets Manager themselves.
 */
export interface DatabaseArgs {
  vpcId: pulumi.Input<string>;
  /** Subnets without any route out: the database needs none. */
  subnetIds: pulumi.Input<string>[];
  /** The only security group allowed in, on the PostgreSQL port. */
  clientSecurityGroupId: pulumi.Input<string>;
  /** e.g. db.t4g.micro. */
  instanceClass: string;
  /** gp3 size; 20 GB is the RDS minimum for gp3. */
  storageGb: number;
  /** Days of automated backups (point-in-time recovery window). */
  backupRetentionDays: number;
  /** True for stacks whose data matters: `pulumi destroy` then fails until it is turned off. */
  deletionProtection: boolean;
  /** The RDS identifier; fixed so the endpoint (stored in the secret) survives a replacement. */
  identifier: string;
  /** The password; generated (32 alphanumerics) when unset. Tests pass a fixed one. */
  password?: pulumi.Input<string>;
  /** A standby in a second AZ (RDS Multi-AZ): about twice the instance and storage price. */
  multiAz: boolean;
  /** Suffix of the final snapshot's name; unique per creation so a second destroy cannot collide. */
  finalSnapshotSuffix: string;
}

export const DB_PORT = 5432;
/**
 * Where the images keep Amazon RDS's CA bundle (docker/*.Dockerfile). node-postgres treats
 * `sslmode=require` as verify-full and Node does not trust the RDS CAs by default; libpq
 * (pg_dump) needs the root certificate for verify-full. Naming the bundle in the URL satisfies both.
 */
export const RDS_CA_BUNDLE_PATH = "/etc/ssl/certs/rds-global-bundle.pem";
export const DB_NAME = "ops";
export const DB_USER = "ops";

/** 32 characters from [A-Za-z0-9]: safe in a URL and in RDS (which rejects / @ " and space). */
export function generatePassword(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // 248 = 4 × 62: bytes at or above it are dropped so every character is equally likely.
  const out: string[] = [];
  while (out.length < 32) {
    for (const byte of randomBytes(64)) {
      if (byte < 248 && out.length < 32) out.push(alphabet[byte % 62]!);
    }
  }
  return out.join("");
}

export class Database extends pulumi.ComponentResource {
  readonly instance: aws.rds.Instance;
  /** The master user's: only the migrator reads it. */
  readonly secret: aws.secretsmanager.Secret;
  readonly securityGroup: aws.ec2.SecurityGroup;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ops-pipeline:stack:Database", name, {}, opts);
    const parent = { parent: this };
    if (args.storageGb < 20)
      throw new Error(`Database storage must be at least 20 GB for gp3, got ${args.storageGb}`);
    // The program generates a new value on every run; ignoreChanges below keeps the first one.
    const password = pulumi.secret(args.password ?? generatePassword());

    this.securityGroup = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: "PostgreSQL: reachable from the app security group only",
        ingress: [
          {
            protocol: "tcp",
            fromPort: DB_PORT,
            toPort: DB_PORT,
            securityGroups: [args.clientSecurityGroupId],
            description: "PostgreSQL from Lambdas and Fargate tasks",
          },
        ],
      },
      parent,
    );
    const subnetGroup = new aws.rds.SubnetGroup(`${name}-subnets`, { subnetIds: args.subnetIds }, parent);
    const parameterGroup = new aws.rds.ParameterGroup(
      `${name}-params`,
      {
        family: "postgres17",
        description: "ops-pipeline: TLS required",
        parameters: [{ name: "rds.force_ssl", value: "1", applyMethod: "immediate" }],
      },
      parent,
    );

    this.instance = new aws.rds.Instance(
      `${name}-instance`,
      {
        identifier: args.identifier,
        engine: "postgres",
        engineVersion: "17",
        // Without this AWS enrols an instance whose major version leaves standard support in
        // paid Extended Support (about $0.10 per vCPU-hour, more than the instance itself).
        engineLifecycleSupport: "open-source-rds-extended-support-disabled",
        instanceClass: args.instanceClass,
        allocatedStorage: args.storageGb,
        storageType: "gp3",
        storageEncrypted: true,
        publiclyAccessible: false,
        multiAz: args.multiAz,
        dbSubnetGroupName: subnetGroup.name,
        vpcSecurityGroupIds: [this.securityGroup.id],
        parameterGroupName: parameterGroup.name,
        port: DB_PORT,
        dbName: DB_NAME,
        username: DB_USER,
        password,
        backupRetentionPeriod: args.backupRetentionDays,
        backupWindow: "08:00-08:30",
        maintenanceWindow: "sun:08:30-sun:09:30",
        copyTagsToSnapshot: true,
        deletionProtection: args.deletionProtection,
        // A final snapshot on delete, always: losing the data by `pulumi destroy` takes two steps.
        skipFinalSnapshot: false,
        // Unique per creation (ignoreChanges keeps the first): a fixed name made a second destroy
        // of a re-created stack fail, the first destroy's snapshot holding the name.
        finalSnapshotIdentifier: `${args.identifier}-final-${args.finalSnapshotSuffix}`,
        autoMinorVersionUpgrade: true,
        allowMajorVersionUpgrade: false,
        caCertIdentifier: "rds-ca-rsa2048-g1",
        performanceInsightsEnabled: false,
        // Stage roles log in with IAM tokens (sql/0113_stage_roles_rds_iam.sql, services/common/rds-iam.ts):
        // no stored password per role, and each IAM role may connect as its own user only.
        iamDatabaseAuthenticationEnabled: true,
        applyImmediately: false,
      },
      { parent: this, ignoreChanges: ["password", "finalSnapshotIdentifier"] },
    );

    this.secret = new aws.secretsmanager.Secret(
      `${name}-credentials`,
      {
        name: `${args.identifier}/database`,
        description: "ops-pipeline database credentials (RDS-style JSON plus url)",
        recoveryWindowInDays: 7,
      },
      parent,
    );
    new aws.secretsmanager.SecretVersion(
      `${name}-credentials-value`,
      {
        secretId: this.secret.id,
        secretString: pulumi
          .all([this.instance.address, password])
          .apply(([host, pass]) => databaseSecretJson(host, pass)),
      },
      // Keep the first generated password (the instance keeps it too, see ignoreChanges above).
      { parent: this, ignoreChanges: ["secretString"] },
    );

    this.registerOutputs({
      endpoint: this.instance.address,
      secretArn: this.secret.arn,
      securityGroupId: this.securityGroup.id,
    });
  }
}

/**
 * The secret's JSON: what databaseUrlFromRdsSecret reads (the Lambdas), plus `url` for ECS to
 * inject as DATABASE_URL, verifying the server against the CA bundle baked into the images.
 */
export function databaseSecretJson(host: string, password: string, user: string = DB_USER): string {
  return JSON.stringify({
    engine: "postgres",
    username: user,
    password,
    host,
    port: DB_PORT,
    dbname: DB_NAME,
    url: `postgres://${user}:${password}@${host}:${DB_PORT}/${DB_NAME}?sslmode=verify-full&sslrootcert=${RDS_CA_BUNDLE_PATH}`,
  });
}
