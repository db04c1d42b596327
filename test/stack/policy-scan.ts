// The policy scan: rules every registered resource must pass, independent of which component
// made it. Returns violations rather than throwing so a test can show each rule catching a
// deliberately bad resource.
import { ssmAgentStatements } from "../../stack/iam.ts";
import type { Registered } from "./harness.ts";

export interface Violation {
  readonly resource: string;
  readonly rule: string;
  readonly detail: string;
}

/** Actions that AWS only grants on "*": the documented exceptions (stack/iam.ts WILDCARD_REASONS). */
export const WILDCARD_RESOURCE_ACTIONS = new Set([
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses",
  "ecr:GetAuthorizationToken",
  // The SSM agent of the NAT instance (stack/iam.ts ssmAgentStatements): no resource-level scope.
  ...ssmAgentStatements().flatMap((statement) => statement.actions),
]);

const DB_PORT = 5432;
const asArray = (value: unknown): unknown[] =>
  Array.isArray(value) ? value : value === undefined ? [] : [value];

interface PolicyStatement {
  Effect?: string;
  Action?: string | string[];
  Resource?: string | string[];
  Principal?: unknown;
}

function statementsOf(document: unknown): PolicyStatement[] {
  const parsed = typeof document === "string" ? (JSON.parse(document) as unknown) : document;
  return asArray((parsed as { Statement?: unknown }).Statement) as PolicyStatement[];
}

export function scan(resources: readonly Registered[]): Violation[] {
  const out: Violation[] = [];
  const flag = (r: Registered, rule: string, detail: string) => out.push({ resource: r.name, rule, detail });
  const ofType = (type: string) => resources.filter((r) => r.type === type);
  const logGroupNames = new Set(
    ofType("aws:cloudwatch/logGroup:LogGroup")
      .filter((r) => Number(r.inputs.retentionInDays) > 0)
      .map((r) => r.inputs.name),
  );

  for (const r of resources) {
    const i = r.inputs;
    switch (r.type) {
      case "aws:rds/instance:Instance":
      case "aws:rds/cluster:Cluster":
        if (i.publiclyAccessible !== false) flag(r, "public-database", "publiclyAccessible must be false");
        if (i.storageEncrypted !== true) flag(r, "unencrypted-storage", "storageEncrypted must be true");
        break;
      case "aws:s3/bucket:Bucket": {
        const id = `${r.name}-id`;
        const block = ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").find(
          (b) => b.inputs.bucket === id,
        );
        const blocked =
          block &&
          ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every(
            (key) => block.inputs[key] === true,
          );
        if (!blocked) flag(r, "public-bucket", "no BucketPublicAccessBlock with all four settings true");
        const sse = ofType(
          "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        ).find((b) => b.inputs.bucket === id);
        if (!sse) flag(r, "unencrypted-storage", "no default encryption configuration");
        if (i.acl === "public-read" || i.acl === "public-read-write")
          flag(r, "public-bucket", `acl ${String(i.acl)}`);
        break;
      }
      case "aws:ec2/instance:Instance": {
        const root = i.rootBlockDevice as { encrypted?: boolean } | undefined;
        if (root?.encrypted !== true) flag(r, "unencrypted-storage", "root volume not encrypted");
        for (const device of asArray(i.ebsBlockDevices) as { encrypted?: boolean }[]) {
          if (device.encrypted !== true) flag(r, "unencrypted-storage", "EBS volume not encrypted");
        }
        break;
      }
      case "aws:ebs/volume:Volume":
        if (i.encrypted !== true) flag(r, "unencrypted-storage", "EBS volume not encrypted");
        break;
      case "aws:ec2/securityGroup:SecurityGroup":
        for (const rule of asArray(i.ingress) as {
          protocol?: string;
          fromPort?: number;
          toPort?: number;
          cidrBlocks?: string[];
          ipv6CidrBlocks?: string[];
        }[]) {
          const open = [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? [])].some(
            (cidr) => cidr === "0.0.0.0/0" || cidr === "::/0",
          );
          const coversDb =
            rule.protocol === "-1" || ((rule.fromPort ?? 0) <= DB_PORT && DB_PORT <= (rule.toPort ?? 65535));
          if (open && coversDb)
            flag(r, "open-database-port", `ingress ${rule.fromPort}-${rule.toPort} from anywhere`);
        }
        break;
      case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        const open = i.cidrIpv4 === "0.0.0.0/0" || i.cidrIpv6 === "::/0";
        const coversDb =
          i.ipProtocol === "-1" ||
          (Number(i.fromPort ?? 0) <= DB_PORT && DB_PORT <= Number(i.toPort ?? 65535));
        if (open && coversDb) flag(r, "open-database-port", "ingress from anywhere");
        break;
      }
      case "aws:iam/rolePolicy:RolePolicy":
      case "aws:iam/policy:Policy":
        for (const statement of statementsOf(i.policy)) {
          if (statement.Effect !== "Allow") continue;
          const actions = asArray(statement.Action) as string[];
          const resourcesOf = asArray(statement.Resource) as string[];
          for (const action of actions) {
            if (action.includes("*")) flag(r, "iam-wildcard-action", action);
          }
          if (resourcesOf.some((resource) => resource === "*" || resource === "arn:aws:*")) {
            const undocumented = actions.filter((action) => !WILDCARD_RESOURCE_ACTIONS.has(action));
            if (undocumented.length > 0) flag(r, "iam-wildcard-resource", `* for ${undocumented.join(", ")}`);
          }
        }
        break;
      case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        flag(r, "iam-managed-policy", `managed policy ${String(i.policyArn)}: write a scoped inline policy`);
        break;
      case "aws:sns/topicPolicy:TopicPolicy":
      case "aws:s3/bucketPolicy:BucketPolicy":
        for (const statement of statementsOf(i.policy)) {
          if (
            statement.Effect === "Allow" &&
            (statement.Principal === "*" || JSON.stringify(statement.Principal).includes('"AWS":"*"'))
          ) {
            flag(r, "public-policy", "Allow to any principal");
          }
        }
        break;
      case "aws:cloudwatch/logGroup:LogGroup":
        if (!(Number(i.retentionInDays) > 0))
          flag(r, "log-retention", "retentionInDays unset: logs kept (and billed) forever");
        break;
      case "aws:lambda/function:Function": {
        const group = (i.loggingConfig as { logGroup?: string } | undefined)?.logGroup;
        if (!group || !logGroupNames.has(group)) {
          flag(r, "log-retention", "logs go to a group the stack does not manage with retention");
        }
        break;
      }
      case "aws:ecs/taskDefinition:TaskDefinition":
        for (const container of JSON.parse(String(i.containerDefinitions)) as {
          name: string;
          logConfiguration?: { options?: Record<string, string> };
        }[]) {
          const group = container.logConfiguration?.options?.["awslogs-group"];
          if (!group || !logGroupNames.has(group)) {
            flag(r, "log-retention", `container ${container.name} logs to an unmanaged group`);
          }
        }
        break;
      default:
    }
  }
  return out;
}
