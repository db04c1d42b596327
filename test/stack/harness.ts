// Runs the Pulumi program once under mocks (pulumi.runtime.setMocks) and records every
// registered resource with its inputs and the options the mocks API does not show
// (ignoreChanges, parent, provider), for all test files of this folder to assert on.
//
// ESM order matters: @pulumi/pulumi reads its settings when a resource is created, so the
// mocks and config are set first and the program is imported afterwards with `await import`.
// Variant stacks (prod-like settings, images built by the stack) are built beside the dev one
// in the same mocked run, each under its own name prefix.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import { STAGE_TABLE, type StageTable } from "../../services/common/stages.ts";
import { parseStackConfig, parseStackYaml, type StackConfig, stackYamlSource } from "../../stack/config.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ACCOUNT = "123456789012";
export const FIXTURE_LAMBDA_DIR = "test/stack/fixtures/lambda-bundles";

/**
 * The repository's stage table with two cadences changed, and nothing else: the `ops-cadence`
 * stack is built from it to show the schedules and alarms following the table.
 */
export const CADENCE_VARIANT: StageTable = {
  ...STAGE_TABLE,
  "inbound-dock": { ...STAGE_TABLE["inbound-dock"], cadence: { kind: "every", intervalMs: 3 * 60_000 } },
  backup: { ...STAGE_TABLE.backup, cadence: { kind: "nightly", atUtc: { hour: 4, minute: 15 } } },
};

export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  readonly state: Record<string, unknown>;
  readonly ignoreChanges: readonly string[];
  readonly parentUrn: string;
  readonly provider: string;
}

export interface MockedRun {
  /** Every resource of every stack built in the run. */
  readonly all: readonly Registered[];
  /** Resources of one stack, by its name prefix (`ops-dev` is the program itself). */
  of(prefix: string): Registered[];
  /** The program's exported outputs, resolved. */
  readonly outputs: Record<string, unknown>;
  readonly devConfig: StackConfig;
}

export function devStackValues(): Record<string, string> {
  return parseStackYaml(readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8"));
}

export function devConfig(overrides: Record<string, string> = {}): StackConfig {
  const values = { ...devStackValues(), ...overrides };
  return parseStackConfig("dev", stackYamlSource(values));
}

/** Physical names and ARNs the way AWS would make them up, enough for policies and outputs. */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const service = type.split(":")[1]?.split("/")[0] ?? "x";
  const physical = typeof inputs.name === "string" ? inputs.name : `${name}-abc123`;
  const state: Record<string, unknown> = {
    ...inputs,
    name: physical,
    arn: `arn:aws:${service}:us-east-1:${ACCOUNT}:${(type.split(":")[2] ?? "r").toLowerCase()}/${physical}`,
  };
  if (type === "aws:s3/bucket:Bucket") state.bucket = `${name}-bucket-abc123`;
  if (type === "aws:lambda/functionUrl:FunctionUrl")
    state.functionUrl = `https://${name}.lambda-url.us-east-1.on.aws/`;
  if (type === "aws:rds/instance:Instance") {
    state.address = `${inputs.identifier}.abc.us-east-1.rds.amazonaws.com`;
    // What RDS calls DbiResourceId, the part of rds-db:connect ARNs that names the instance.
    state.resourceId = `db-${String(inputs.identifier).toUpperCase()}`;
  }
  if (type === "aws:ecs/taskDefinition:TaskDefinition") {
    state.arn = `arn:aws:ecs:us-east-1:${ACCOUNT}:task-definition/${inputs.family}:1`;
  }
  if (type === "aws:ec2/instance:Instance") state.primaryNetworkInterfaceId = "eni-0123";
  if (type === "aws:ecr/repository:Repository") {
    state.repositoryUrl = `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/${inputs.name}`;
  }
  if (type === "awsx:ecr:Image") state.imageUri = `${inputs.repositoryUrl}@sha256:${"0".repeat(64)}`;
  return state;
}

let run: Promise<MockedRun> | undefined;

/** The mocked run, started on first use and shared by every test file. */
export function mockedRun(): Promise<MockedRun> {
  run ??= start();
  return run;
}

async function start(): Promise<MockedRun> {
  const all: Registered[] = [];
  const pending = new Map<string, { ignoreChanges: string[]; parentUrn: string; provider: string }>();
  await pulumi.runtime.setMocks(
    {
      newResource(raw) {
        const args = { ...raw, inputs: unwrapSecrets(raw.inputs) as Record<string, unknown> };
        const extra = pending.get(`${args.type}::${args.name}`);
        const state = mockState(args.type, args.name, args.inputs as Record<string, unknown>);
        all.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          state,
          ignoreChanges: extra?.ignoreChanges ?? [],
          parentUrn: extra?.parentUrn ?? "",
          provider: extra?.provider ?? "",
        });
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        switch (args.token) {
          case "aws:index/getCallerIdentity:getCallerIdentity":
            return { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/test`, userId: "test" };
          case "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {
              names: ["us-east-1a", "us-east-1b", "us-east-1c"],
              zoneIds: ["use1-az1", "use1-az2", "use1-az4"],
            };
          case "aws:index/getRegion:getRegion":
            return { region: "us-east-1", name: "us-east-1", id: "us-east-1" };
          case "aws:ssm/getParameter:getParameter":
            return { value: "ami-0123456789abcdef0", name: args.inputs.name, type: "String" };
          default:
            throw new Error(`unexpected call ${args.token} under mocks`);
        }
      },
    },
    "ops-pipeline",
    "dev",
    false,
  );
  // The mocks API hides resource options; the monitor's request carries them.
  type Request = {
    getType(): string;
    getName(): string;
    getIgnorechangesList(): string[];
    getParent(): string;
    getProvider(): string;
  };
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: Request, callback: unknown): Promise<void>;
  };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    pending.set(`${req.getType()}::${req.getName()}`, {
      ignoreChanges: req.getIgnorechangesList(),
      parentUrn: req.getParent(),
      provider: req.getProvider(),
    });
    return original(req, callback);
  };

  const values = devStackValues();
  pulumi.runtime.setAllConfig({ ...values, "ops-pipeline:lambdaCodeDir": FIXTURE_LAMBDA_DIR });
  const program = (await import("../../stack/index.ts")) as Record<string, unknown>;
  const { OpsStack } = await import("../../stack/ops-stack.ts");
  const lambdaCode = () =>
    new pulumi.asset.AssetArchive({
      "index.mjs": new pulumi.asset.StringAsset("export const handler = () => {};"),
    });
  // Prod-like: deletion protection, Multi-AZ, a NAT gateway, on-demand ARM, images built by the stack.
  new OpsStack("ops-prodlike", {
    config: devConfig({
      "ops-pipeline:dbDeletionProtection": "true",
      "ops-pipeline:dbMultiAz": "true",
      "ops-pipeline:egress": "nat-gateway",
      "ops-pipeline:fargateCapacity": "on-demand",
      "ops-pipeline:fargateArchitecture": "ARM64",
      "aws:region": "eu-west-1",
    }),
    repositoryRoot: ROOT,
    lambdaCode,
    databasePassword: "FixedTestPassword0123456789abcdef",
    imageTag: "0123456789ab",
    finalSnapshotSuffix: "test",
  });

  // The dev stack again, from a stage table with other cadences (CADENCE_VARIANT).
  new OpsStack("ops-cadence", {
    config: devConfig(),
    repositoryRoot: ROOT,
    lambdaCode,
    databasePassword: "FixedTestPassword0123456789abcdef",
    imageTag: "0123456789ab",
    finalSnapshotSuffix: "test",
    stages: CADENCE_VARIANT,
  });

  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(program)) {
    outputs[key] = await resolve(value);
  }
  // Internal to @pulumi/pulumi (exported, not typed): resolves once every pending registration
  // has reached the mocks, so the tests see all resources, not only those the outputs waited on.
  const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (typeof waitForRPCs !== "function") {
    throw new Error("@pulumi/pulumi no longer exports runtime.waitForRPCs: update test/stack/harness.ts");
  }
  await waitForRPCs();
  return {
    all,
    of: (prefix) => all.filter((r) => r.name === prefix || r.name.startsWith(`${prefix}-`)),
    outputs,
    devConfig: devConfig(),
  };
}

/** The mocks see secret inputs wrapped in Pulumi's secret signature; the tests want the values. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
function unwrapSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (SECRET_SIG in record) return unwrapSecrets(record.value);
    return Object.fromEntries(Object.entries(record).map(([key, inner]) => [key, unwrapSecrets(inner)]));
  }
  return value;
}

/** Resolves an Output (or a structure holding Outputs) to its plain value. */
export function resolve(value: unknown): Promise<unknown> {
  const output = pulumi.output(value as pulumi.Input<Record<string, unknown>>) as pulumi.Output<unknown>;
  return new Promise((done) => output.apply((plain) => done(plain)));
}

/** Inputs that hold JSON documents (policies, container definitions) parsed. */
export function json<T = unknown>(value: unknown): T {
  if (typeof value !== "string") throw new Error(`expected a JSON string, got ${typeof value}`);
  return JSON.parse(value) as T;
}
