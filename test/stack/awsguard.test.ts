import assert from "node:assert/strict";
import { AWSGUARD_WAIVERS, awsGuardRules, type GuardViolation, runAwsGuard } from "./awsguard.ts";
import { type MockedRun, mockedRun, type Registered } from "./harness.ts";

let run: MockedRun;
const violations: Record<string, GuardViolation[]> = {};

before(async function () {
  this.timeout(180_000);
  run = await mockedRun();
  for (const stack of ["ops-dev", "ops-prodlike"]) violations[stack] = await runAwsGuard(run.of(stack));
});

describe("stack: @pulumi/awsguard, every rule at its defaults", () => {
  it("runs all 26 rules of the pack, resource and stack rules alike", () => {
    const rules = awsGuardRules();
    assert.equal(rules.length, 26);
    assert.ok(rules.some((rule) => rule.validateStack));
    assert.ok(rules.some((rule) => rule.name === "rds-storage-encrypted"));
  });

  it("finds nothing in the program and its prod-like variant but the waived rules, each with its reason", () => {
    const all = [...violations["ops-dev"]!, ...violations["ops-prodlike"]!];
    const unwaived = all.filter(
      (v) => !AWSGUARD_WAIVERS.some((w) => w.rule === v.rule && w.resources.test(v.resource)),
    );
    assert.deepEqual(unwaived, []);
    console.log(
      `\n  AWSGuard waivers:\n${AWSGUARD_WAIVERS.map((w) => `    ${w.rule}: ${w.reason}`).join("\n")}\n`,
    );
  });

  it("keeps no stale waiver: every one still matches a violation", () => {
    const all = [...violations["ops-dev"]!, ...violations["ops-prodlike"]!];
    for (const waiver of AWSGUARD_WAIVERS) {
      assert.ok(
        all.some((v) => v.rule === waiver.rule && waiver.resources.test(v.resource)),
        `${waiver.rule} no longer fires: drop its waiver`,
      );
      assert.ok(waiver.reason.length > 40, waiver.rule);
    }
  });

  it("passes Multi-AZ on the prod-like stack, which sets dbMultiAz", () => {
    assert.ok(!violations["ops-prodlike"]!.some((v) => v.rule === "rds-instance-multi-az-enabled"));
  });

  it("catches a public, unencrypted database and a bucket without logging when given one", async () => {
    const bad: Registered[] = [
      {
        type: "aws:rds/instance:Instance",
        name: "bad-db",
        inputs: { publiclyAccessible: true, storageEncrypted: false, backupRetentionPeriod: 0 },
      } as unknown as Registered,
      { type: "aws:s3/bucket:Bucket", name: "bad-bucket", inputs: {} } as unknown as Registered,
    ];
    const found = (await runAwsGuard(bad)).map((v) => `${v.rule}@${v.resource}`).sort();
    assert.deepEqual(found, [
      "rds-instance-backup-enabled@bad-db",
      "rds-instance-multi-az-enabled@bad-db",
      "rds-instance-public-access@bad-db",
      "rds-storage-encrypted@bad-db",
      "s3-bucket-logging-enabled@bad-bucket",
    ]);
  });
});
