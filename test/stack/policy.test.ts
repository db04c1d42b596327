import assert from "node:assert/strict";
import { policyDocument, WILDCARD_REASONS } from "../../stack/iam.ts";
import { mockedRun, type Registered, resolve } from "./harness.ts";
import { scan } from "./policy-scan.ts";

const resource = (type: string, name: string, inputs: Record<string, unknown>): Registered => ({
  type,
  name,
  inputs,
  state: {},
  ignoreChanges: [],
  parentUrn: "",
  provider: "",
});

describe("stack: policy scan", () => {
  it("finds no violation in any resource the program and its variants register", async function () {
    this.timeout(180_000);
    const run = await mockedRun();
    assert.ok(run.all.length > 250, `scanned ${run.all.length} resources`);
    assert.deepEqual(scan(run.all), []);
  });

  it("flags a public database, an unencrypted one and an open PostgreSQL port", () => {
    const violations = scan([
      resource("aws:rds/instance:Instance", "db", { publiclyAccessible: true, storageEncrypted: false }),
      resource("aws:ec2/securityGroup:SecurityGroup", "sg", {
        ingress: [{ protocol: "tcp", fromPort: 5432, toPort: 5432, cidrBlocks: ["0.0.0.0/0"] }],
      }),
      resource("aws:ec2/securityGroup:SecurityGroup", "all", {
        ingress: [{ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] }],
      }),
    ]);
    assert.deepEqual(violations.map((v) => `${v.resource}:${v.rule}`).sort(), [
      "all:open-database-port",
      "db:public-database",
      "db:unencrypted-storage",
      "sg:open-database-port",
    ]);
  });

  it("flags a bucket without a full public access block or default encryption", () => {
    const violations = scan([
      resource("aws:s3/bucket:Bucket", "b", {}),
      resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", {
        bucket: "b-id",
        blockPublicAcls: true,
        blockPublicPolicy: false,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      }),
    ]);
    assert.deepEqual(violations.map((v) => v.rule).sort(), ["public-bucket", "unencrypted-storage"]);
  });

  it("flags wildcard actions, undocumented wildcard resources and managed policy attachments", () => {
    const policy = JSON.stringify({
      Statement: [
        { Effect: "Allow", Action: ["s3:*"], Resource: ["arn:aws:s3:::b/*"] },
        { Effect: "Allow", Action: ["sns:Publish"], Resource: "*" },
        { Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: "*" },
        { Effect: "Deny", Action: ["*"], Resource: "*" },
      ],
    });
    const violations = scan([
      resource("aws:iam/rolePolicy:RolePolicy", "p", { policy }),
      resource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", {
        policyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
      }),
    ]);
    assert.deepEqual(violations.map((v) => `${v.rule}:${v.detail}`).sort(), [
      "iam-managed-policy:managed policy arn:aws:iam::aws:policy/AdministratorAccess: write a scoped inline policy",
      "iam-wildcard-action:s3:*",
      "iam-wildcard-resource:* for sns:Publish",
    ]);
  });

  it("flags log groups without retention and functions or containers logging outside managed groups", () => {
    const violations = scan([
      resource("aws:cloudwatch/logGroup:LogGroup", "forever", { name: "/x/forever" }),
      resource("aws:lambda/function:Function", "fn", {}),
      resource("aws:ecs/taskDefinition:TaskDefinition", "td", {
        containerDefinitions: JSON.stringify([
          { name: "c", logConfiguration: { options: { "awslogs-group": "/x/forever" } } },
        ]),
      }),
    ]);
    assert.deepEqual(violations.map((v) => `${v.resource}:${v.rule}`).sort(), [
      "fn:log-retention",
      "forever:log-retention",
      "td:log-retention",
    ]);
  });

  it("refuses to build a policy with a * resource that gives no reason, and accepts a documented one", async () => {
    assert.throws(
      () => policyDocument([{ actions: ["sns:Publish"], resources: ["*"] }]),
      /uses \* without a reason/,
    );
    assert.throws(
      () => policyDocument([{ actions: ["s3:*"], resources: ["arn:aws:s3:::b"] }]),
      /wildcard action/,
    );
    const document = await resolve(
      policyDocument([
        {
          actions: ["ecr:GetAuthorizationToken"],
          resources: ["*"],
          wildcardReason: WILDCARD_REASONS.ecrToken,
        },
      ]),
    );
    assert.match(String(document), /"Resource":\["\*"\]/);
  });
});
