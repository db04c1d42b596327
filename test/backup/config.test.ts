import assert from "node:assert/strict";
import path from "node:path";
import { loadConfig } from "../../services/common/config.ts";
import { ConfigError } from "../../services/common/errors.ts";

describe("watchdog and backup configuration keys", () => {
  it("puts local backups under the data folder and keeps 7 by default", () => {
    const config = loadConfig({ OPS_DATA_DIR: "state" }, "/srv/app");
    assert.equal(config.backup.dir, path.resolve("/srv/app", "state", "backups"));
    assert.equal(config.backup.keep, 7);
    assert.equal(config.backup.prefix, "backups/");
  });

  it("splits comma-separated subnets and security groups", () => {
    const config = loadConfig({ OPS_ECS_SUBNETS: "subnet-a, subnet-b,", OPS_ECS_SECURITY_GROUPS: "sg-1" });
    assert.deepEqual(config.backup.ecs.subnets, ["subnet-a", "subnet-b"]);
    assert.deepEqual(config.backup.ecs.securityGroups, ["sg-1"]);
  });

  it("names the key of a bad alert or backup setting", () => {
    for (const [key, value] of [
      ["OPS_ALERT_WEBHOOK_URL", "ftp://example.com/hook"],
      ["OPS_ALERT_SNS_TOPIC_ARN", "ops-alerts"],
      ["OPS_BACKUP_PREFIX", "backups"],
      ["OPS_BACKUP_KEEP", "0"],
    ] as const) {
      assert.throws(
        () => loadConfig({ [key]: value }),
        (error: unknown) => error instanceof ConfigError && error.key === key,
        key,
      );
    }
  });
});
