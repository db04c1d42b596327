import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseStackConfig, parseStackYaml, StackConfigError } from "../../stack/config.ts";
import { devStackValues, ROOT } from "./harness.ts";

const base: Record<string, string> = { alertEmail: "a@example.com" };
const parse = (values: Record<string, string>) =>
  parseStackConfig("dev", (key) => ({ ...base, ...values })[key]);
const rejects = (values: Record<string, string>, pattern: RegExp) =>
  assert.throws(
    () => parse(values),
    (error: unknown) => error instanceof StackConfigError && pattern.test(error.message),
  );

describe("stack: configuration", () => {
  it("applies the documented defaults: nat-instance, Spot x86, db.t4g.micro, 14-day logs, $25", () => {
    const config = parse({});
    assert.equal(config.egress, "nat-instance");
    assert.equal(config.fargateCapacity, "spot");
    assert.equal(config.fargateArchitecture, "X86_64");
    assert.equal(config.dbInstanceClass, "db.t4g.micro");
    assert.equal(config.dbDeletionProtection, true);
    assert.equal(config.logRetentionDays, 14);
    assert.equal(config.monthlyBudgetUsd, 25);
    assert.ok(Object.isFrozen(config));
  });

  it("requires the alert e-mail and names the key", () => {
    assert.throws(() => parseStackConfig("dev", () => undefined), /ops-pipeline:alertEmail is required/);
    rejects({ alertEmail: "nobody" }, /alertEmail must be an e-mail address/);
  });

  it("rejects Fargate Spot with ARM64, naming both keys", () => {
    rejects(
      { fargateArchitecture: "ARM64" },
      /fargateArchitecture ARM64 conflicts with fargateCapacity spot/,
    );
    assert.equal(
      parse({ fargateArchitecture: "ARM64", fargateCapacity: "on-demand" }).fargateArchitecture,
      "ARM64",
    );
  });

  it("rejects sizes Fargate, RDS and CloudWatch would refuse at deploy time", () => {
    rejects(
      { sortationMemoryMb: "3072" },
      /sortationMemoryMb 3072 is not a Fargate size for sortationCpu 256/,
    );
    rejects({ dbStorageGb: "10" }, /dbStorageGb must be an integer from 20/);
    rejects({ logRetentionDays: "10" }, /logRetentionDays must be one of/);
    rejects({ egress: "nat-per-az" }, /egress must be one of nat-instance, nat-gateway/);
    rejects({ dbDeletionProtection: "yes" }, /must be true or false/);
  });

  it("documents in Pulumi.yaml exactly the keys the program reads", () => {
    const read = new Set<string>();
    parseStackConfig("dev", (key) => {
      read.add(key);
      return base[key];
    });
    read.delete("region"); // aws:region, the provider's key
    const projectFile = readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
    const section = projectFile.slice(projectFile.indexOf("\nconfig:"));
    const documented = [
      ...section.matchAll(/^ {2}([A-Za-z]+):\n {4}type: \w+\n {4}description: .{20,}$/gm),
    ].map((m) => m[1]);
    assert.deepEqual([...documented].sort(), [...read].sort());
  });

  it("gives in Pulumi.yaml the defaults stack/config.ts applies, which npm run cost prices", () => {
    const projectFile = readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
    const section = projectFile.slice(projectFile.indexOf("\nconfig:"));
    const defaults = [
      ...section.matchAll(/^ {2}([A-Za-z]+):\n {4}type: \w+\n {4}description: .+\n {4}default: (.+)$/gm),
    ].map((m) => [m[1] as string, (m[2] as string).replace(/^"(.*)"$/, "$1")] as const);
    assert.ok(defaults.length >= 10, `found ${defaults.length} defaults`);
    // Only the required keys set: everything else falls back to parseStackConfig's defaults.
    const parsed = parseStackConfig("dev", (key) =>
      key === "alertEmail" ? base.alertEmail : undefined,
    ) as unknown as Record<string, unknown>;
    // An empty default means unset (appImage, workerImage): undefined in the parsed config.
    for (const [key, value] of defaults) assert.equal(String(parsed[key] ?? ""), value, key);
  });

  it("reads Pulumi.dev.yaml into a valid dev configuration", () => {
    const values = devStackValues();
    assert.equal(values["aws:region"], "us-east-1");
    const config = parseStackConfig("dev", (key) =>
      key === "region" ? values["aws:region"] : values[`ops-pipeline:${key}`],
    );
    assert.equal(config.dbDeletionProtection, false);
  });

  it("refuses stack-file entries it cannot read flat rather than misreading them", () => {
    assert.throws(
      () => parseStackYaml("config:\n  ops-pipeline:x:\n    secure: abc\n"),
      /has no scalar value/,
    );
    assert.deepEqual(parseStackYaml('config:\n  ops-pipeline:a: "1" # note\n  aws:region: eu-west-1\n'), {
      "ops-pipeline:a": "1",
      "aws:region": "eu-west-1",
    });
  });
});
