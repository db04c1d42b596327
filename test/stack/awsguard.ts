// A policy check no one here wrote: every rule of @pulumi/awsguard (Pulumi CrossGuard's AWS pack),
// at its default configuration, run over what the program registers under mocks. The rules are
// called the way @pulumi/policy's analyzer server calls them (server.js makeAnalyzeRpcFun): a
// resource rule gets { type, props, urn, name, isType, asType, getConfig, notApplicable } and a
// reportViolation callback; a stack rule gets every resource at once. Constructing the pack
// itself (new AwsGuard()) would start the analyzer's gRPC server, so the rules are read from the
// package's modules, as AwsGuard's constructor collects them.
import { createRequire } from "node:module";
import type { Registered } from "./harness.ts";

const require = createRequire(import.meta.url);
const policyFramework = require("@pulumi/policy") as {
  getPulumiType(resourceClass: unknown): string | undefined;
};
const MODULES = ["apiGateway", "compute", "database", "elasticsearch", "network", "security", "storage"];

type Report = (message: string, urn?: string) => void;
interface ResourceArgs {
  type: string;
  props: Record<string, unknown>;
  urn: string;
  name: string;
  opts: Record<string, unknown>;
  isType(resourceClass: unknown): boolean;
  asType(resourceClass: unknown): Record<string, unknown> | undefined;
  getConfig(): Record<string, unknown>;
  notApplicable(reason?: string): never;
}
type ResourceValidation = (args: ResourceArgs, report: Report) => void | Promise<void>;
type StackValidation = (
  args: {
    resources: ResourceArgs[];
    getConfig(): Record<string, unknown>;
    notApplicable(reason?: string): never;
  },
  report: Report,
) => void | Promise<void>;

/**
 * The rules of @pulumi/awsguard this stack knowingly breaks, each with the resources it may break
 * it on and why. Anything else the pack reports fails the test; a waiver nothing triggers any more
 * fails it too, so the list stays true.
 */
export const AWSGUARD_WAIVERS: readonly { rule: string; resources: RegExp; reason: string }[] = [
  {
    rule: "ec2-instance-no-public-ip",
    resources: /^ops-dev-net-nat$/,
    reason:
      "the NAT instance is the one instance whose job needs a public address: it sits in a public subnet and forwards for the private ones (its group admits only the app group, on 80/443)",
  },
  {
    rule: "ec2-instance-detailed-monitoring-enabled",
    resources: /^ops-dev-net-nat$/,
    reason:
      "detailed (1-minute) monitoring bills 7 metrics as custom metrics, about $2.10/month; the NAT's status-check and egress alarms work on the free 5-minute metrics",
  },
  {
    rule: "ec2-volume-inuse",
    resources: /^ops-dev-net-nat$/,
    reason:
      "the rule counts only extra ebsBlockDevices; the NAT's one volume is its encrypted gp3 rootBlockDevice, deleted with the instance",
  },
  {
    rule: "rds-instance-multi-az-enabled",
    resources: /^ops-dev-db-instance$/,
    reason:
      "dev runs Single-AZ for cost (Multi-AZ doubles the database line); production sets dbMultiAz, and the prod-like variant passes this rule",
  },
  {
    rule: "s3-bucket-logging-enabled",
    resources: /^ops-(dev-backups-bucket|prodlike-backups-bucket|prodlike-backups-access-logs)$/,
    reason:
      "written for @pulumi/aws v4's inline `loggings`; v7 logs through a separate aws.s3.BucketLogging, which the prod-like stack declares (asserted in test/stack/hardening.test.ts); the dev stack keeps no access logs (disposable data), and the log bucket does not log into itself",
  },
];

export interface GuardRule {
  readonly name: string;
  readonly description: string;
  readonly configSchema?: { properties?: Record<string, { default?: unknown }> };
  readonly validateResource?: ResourceValidation | ResourceValidation[];
  readonly validateStack?: StackValidation;
}

export interface GuardViolation {
  readonly rule: string;
  readonly resource: string;
  readonly message: string;
}

/** Every rule the pack registers (awsGuard.ts registerPolicy), by module export. */
export function awsGuardRules(): GuardRule[] {
  const rules: GuardRule[] = [];
  for (const name of MODULES) {
    const exported = require(`@pulumi/awsguard/${name}`) as Record<string, unknown>;
    for (const value of Object.values(exported)) {
      const rule = value as Partial<GuardRule> | null;
      if (rule && typeof rule.name === "string" && (rule.validateResource || rule.validateStack)) {
        rules.push(rule as GuardRule);
      }
    }
  }
  return rules;
}

class NotApplicable extends Error {}

/** The defaults of a rule's config schema: what the server hands getConfig() with no pack config. */
function defaults(rule: GuardRule): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(rule.configSchema?.properties ?? {})
      .filter(([, schema]) => schema.default !== undefined)
      .map(([key, schema]) => [key, schema.default]),
  );
}

function argsOf(resource: Registered, rule: GuardRule): ResourceArgs {
  const isType = (resourceClass: unknown) => policyFramework.getPulumiType(resourceClass) === resource.type;
  return {
    type: resource.type,
    props: resource.inputs as Record<string, unknown>,
    urn: `urn:pulumi:test::ops-pipeline::${resource.type}::${resource.name}`,
    name: resource.name,
    opts: {},
    isType,
    asType: (resourceClass) =>
      isType(resourceClass) ? (resource.inputs as Record<string, unknown>) : undefined,
    getConfig: () => defaults(rule),
    notApplicable: (reason) => {
      throw new NotApplicable(reason);
    },
  };
}

/** Runs every rule over `resources`; returns each violation reported. */
export async function runAwsGuard(
  resources: readonly Registered[],
  rules = awsGuardRules(),
): Promise<GuardViolation[]> {
  const out: GuardViolation[] = [];
  for (const rule of rules) {
    const validations = rule.validateResource
      ? Array.isArray(rule.validateResource)
        ? rule.validateResource
        : [rule.validateResource]
      : [];
    for (const resource of resources) {
      for (const validate of validations) {
        try {
          await validate(argsOf(resource, rule), (message) =>
            out.push({ rule: rule.name, resource: resource.name, message }),
          );
        } catch (error) {
          if (!(error instanceof NotApplicable)) throw error;
        }
      }
    }
    if (rule.validateStack) {
      try {
        await rule.validateStack(
          {
            resources: resources.map((r) => argsOf(r, rule)),
            getConfig: () => defaults(rule),
            notApplicable: (reason) => {
              throw new NotApplicable(reason);
            },
          },
          (message) => out.push({ rule: rule.name, resource: "(stack)", message }),
        );
      } catch (error) {
        if (!(error instanceof NotApplicable)) throw error;
      }
    }
  }
  return out;
}
