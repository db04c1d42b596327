/**
 * The stack's configuration: every key of `Pulumi.yaml`'s `config:` section, parsed once into a
 * frozen, typed object. Pure (no Pulumi runtime), so the cost model and the tests read the same
 * `Pulumi.<stack>.yaml` the program does.
 */

/** The project name: Pulumi config keys are `ops-pipeline:<key>`. */
export const PROJECT = "ops-pipeline";

export type Egress = "nat-instance" | "nat-gateway";
export type FargateCapacity = "spot" | "on-demand";
export type CpuArchitecture = "X86_64" | "ARM64";

export interface StackConfig {
  /** The stack's name (dev, prod...): part of every physical name and of the SSM prefix. */
  readonly stack: string;
  readonly region: string;
  /** Where alarms, the budget and the watchdog's alerts are mailed (SNS email subscription). */
  readonly alertEmail: string;
  readonly monthlyBudgetUsd: number;
  readonly vpcCidr: string;
  readonly egress: Egress;
  readonly natInstanceType: string;
  readonly dbInstanceClass: string;
  readonly dbStorageGb: number;
  readonly dbBackupRetentionDays: number;
  readonly dbDeletionProtection: boolean;
  /** RDS Multi-AZ (a standby in a second zone): about twice the database's price; for production. */
  readonly dbMultiAz: boolean;
  /** S3 server access logs of the backup bucket (into a log bucket of their own); default: on when dbDeletionProtection is. */
  readonly backupAccessLogs: boolean;
  readonly fargateCapacity: FargateCapacity;
  readonly fargateArchitecture: CpuArchitecture;
  readonly sortationCpu: number;
  readonly sortationMemoryMb: number;
  readonly dispatcherCpu: number;
  readonly dispatcherMemoryMb: number;
  readonly serviceDesiredCount: number;
  readonly lambdaMemoryMb: number;
  readonly logRetentionDays: number;
  readonly backupBucketExpirationDays: number;
  readonly schedulesEnabled: boolean;
  /** Prebuilt image URIs; unset: the stack builds the image with Docker (awsx.ecr.Image). */
  readonly appImage: string | undefined;
  readonly workerImage: string | undefined;
  /** A folder with `<stage>/index.mjs` bundles; unset: the program bundles the handlers itself. */
  readonly lambdaCodeDir: string | undefined;
}

/** A bad or conflicting configuration key; the message says which key and what to change. */
export class StackConfigError extends Error {
  override readonly name = "StackConfigError";
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`${PROJECT}:${key} ${message}`);
  }
}

/** Reads one raw config value by key (without the project prefix); undefined when unset. */
export type ConfigSource = (key: string) => string | undefined;

/** Fargate task sizes AWS accepts for the small end (vCPU units → allowed memory in MiB). */
const FARGATE_SIZES: Record<number, readonly number[]> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
};

/** Retention values CloudWatch Logs accepts; anything else is rejected by the API at deploy. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731] as const;

/**
 * Parses and validates the stack configuration.
 * @throws StackConfigError naming the first bad key, or the pair of conflicting keys.
 */
export function parseStackConfig(stack: string, get: ConfigSource): StackConfig {
  const text = (key: string, fallback?: string): string => {
    const value = get(key);
    if (value === undefined || value === "") {
      if (fallback === undefined)
        throw new StackConfigError(key, "is required: set it in Pulumi.<stack>.yaml");
      return fallback;
    }
    return value;
  };
  const optional = (key: string): string | undefined => {
    const value = get(key);
    return value === undefined || value === "" ? undefined : value;
  };
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = get(key);
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new StackConfigError(key, `must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const raw = get(key);
    if (raw === undefined || raw === "") return fallback;
    if (raw === "true") return true;
    if (raw === "false") return false;
    throw new StackConfigError(key, `must be true or false, got ${JSON.stringify(raw)}`);
  };
  const oneOf = <T extends string>(key: string, fallback: T, allowed: readonly T[]): T => {
    const raw = get(key);
    if (raw === undefined || raw === "") return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new StackConfigError(key, `must be one of ${allowed.join(", ")}, got ${JSON.stringify(raw)}`);
    }
    return raw as T;
  };

  if (!/^[a-z][a-z0-9-]{0,19}$/.test(stack)) {
    throw new StackConfigError(
      "stack",
      `name ${JSON.stringify(stack)} must be lower-case, at most 20 characters`,
    );
  }
  const alertEmail = text("alertEmail");
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alertEmail)) {
    throw new StackConfigError("alertEmail", `must be an e-mail address, got ${JSON.stringify(alertEmail)}`);
  }
  const vpcCidr = text("vpcCidr", "10.20.0.0/16");
  if (!/^\d{1,3}\.\d{1,3}\.0\.0\/16$/.test(vpcCidr)) {
    throw new StackConfigError("vpcCidr", `must be a /16 like 10.20.0.0/16, got ${JSON.stringify(vpcCidr)}`);
  }
  const fargateCapacity = oneOf<FargateCapacity>("fargateCapacity", "spot", ["spot", "on-demand"]);
  const fargateArchitecture = oneOf<CpuArchitecture>("fargateArchitecture", "X86_64", ["X86_64", "ARM64"]);
  if (fargateCapacity === "spot" && fargateArchitecture === "ARM64") {
    // AWS: "Linux tasks with the ARM64 architecture don't support the Fargate Spot capacity provider."
    throw new StackConfigError(
      "fargateArchitecture",
      "ARM64 conflicts with fargateCapacity spot (Fargate Spot runs X86_64 tasks only): set one of them differently",
    );
  }
  const sortationCpu = int("sortationCpu", 256, 256, 1024);
  const sortationMemoryMb = int("sortationMemoryMb", 1024, 512, 8192);
  const dispatcherCpu = int("dispatcherCpu", 256, 256, 1024);
  const dispatcherMemoryMb = int("dispatcherMemoryMb", 512, 512, 8192);
  for (const [cpuKey, cpu, memKey, mem] of [
    ["sortationCpu", sortationCpu, "sortationMemoryMb", sortationMemoryMb],
    ["dispatcherCpu", dispatcherCpu, "dispatcherMemoryMb", dispatcherMemoryMb],
  ] as const) {
    const allowed = FARGATE_SIZES[cpu];
    if (!allowed) throw new StackConfigError(cpuKey, `must be 256, 512 or 1024, got ${cpu}`);
    if (!allowed.includes(mem)) {
      throw new StackConfigError(
        memKey,
        `${mem} is not a Fargate size for ${cpuKey} ${cpu}: use one of ${allowed.join(", ")}`,
      );
    }
  }
  const logRetentionDays = int("logRetentionDays", 14, 1, 731);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) {
    throw new StackConfigError("logRetentionDays", `must be one of ${LOG_RETENTION_DAYS.join(", ")}`);
  }
  const dbStorageGb = int("dbStorageGb", 20, 20, 1000);
  const dbInstanceClass = text("dbInstanceClass", "db.t4g.micro");
  if (!dbInstanceClass.startsWith("db.")) {
    throw new StackConfigError(
      "dbInstanceClass",
      `must be an RDS class like db.t4g.micro, got ${dbInstanceClass}`,
    );
  }

  return Object.freeze({
    stack,
    region: text("region", "us-east-1"),
    alertEmail,
    monthlyBudgetUsd: int("monthlyBudgetUsd", 25, 1, 100_000),
    vpcCidr,
    egress: oneOf<Egress>("egress", "nat-instance", ["nat-instance", "nat-gateway"]),
    natInstanceType: text("natInstanceType", "t4g.nano"),
    dbInstanceClass,
    dbStorageGb,
    dbBackupRetentionDays: int("dbBackupRetentionDays", 7, 1, 35),
    dbDeletionProtection: bool("dbDeletionProtection", true),
    dbMultiAz: bool("dbMultiAz", false),
    backupAccessLogs: bool("backupAccessLogs", bool("dbDeletionProtection", true)),
    fargateCapacity,
    fargateArchitecture,
    sortationCpu,
    sortationMemoryMb,
    dispatcherCpu,
    dispatcherMemoryMb,
    serviceDesiredCount: int("serviceDesiredCount", 1, 0, 10),
    lambdaMemoryMb: int("lambdaMemoryMb", 256, 128, 10_240),
    logRetentionDays,
    backupBucketExpirationDays: int("backupBucketExpirationDays", 30, 8, 3650),
    schedulesEnabled: bool("schedulesEnabled", true),
    appImage: optional("appImage"),
    workerImage: optional("workerImage"),
    lambdaCodeDir: optional("lambdaCodeDir"),
  });
}

/**
 * The `config:` map (full `project:key` names) of a `Pulumi.<stack>.yaml`, for the cost model and tests outside the Pulumi
 * engine. Only the flat `project:key: scalar` form this project uses is accepted: a nested or
 * secure value is an error rather than a silent misread.
 * @throws StackConfigError on a line it does not understand.
 */
export function parseStackYaml(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inConfig = false;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.replace(/\s+#.*$/, "").trimEnd();
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    if (!line.startsWith(" ")) {
      inConfig = line === "config:";
      if (!inConfig && !/^[A-Za-z]+:/.test(line))
        throw new StackConfigError("yaml", `line ${index + 1} not understood`);
      continue;
    }
    if (!inConfig) continue;
    const match = /^\s+([A-Za-z0-9_-]+):([A-Za-z0-9_-]+):\s*(.*)$/.exec(line);
    if (!match)
      throw new StackConfigError("yaml", `line ${index + 1} is not a flat "project:key: value" entry`);
    const [, project, key, value] = match as unknown as [string, string, string, string];
    if (value === "") throw new StackConfigError(key, `(line ${index + 1}) has no scalar value`);
    out[`${project}:${key}`] = value.replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
  }
  return out;
}

/**
 * A ConfigSource over a parsed stack file: `region` is the AWS provider's `aws:region`, every
 * other key is `ops-pipeline:<key>`.
 */
export function stackYamlSource(values: Readonly<Record<string, string>>): ConfigSource {
  return (key) => (key === "region" ? values["aws:region"] : values[`${PROJECT}:${key}`]);
}
