import assert from "node:assert/strict";
import path from "node:path";
import { loadConfig } from "../../services/common/config.ts";
import { ConfigError } from "../../services/common/errors.ts";

describe("configuration", () => {
  it("fills every default from an empty environment", () => {
    const config = loadConfig({}, "/srv/app");
    assert.equal(config.target, "local");
    assert.equal(config.dataDir, path.resolve("/srv/app", ".ops"));
    assert.equal(config.database.url, undefined);
    assert.equal(config.database.statementTimeoutMs, 30_000);
    assert.equal(config.aws.paramPrefix, "/ops-pipeline/dev");
  });

  it("is frozen all the way down", () => {
    const config = loadConfig({});
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.database));
    assert.throws(() => {
      (config.database as { url: string | undefined }).url = "postgres://x";
    }, TypeError);
  });

  it("names the key of a bad value", () => {
    for (const [key, value] of [
      ["DATABASE_URL", "mysql://root@localhost/test"],
      ["OPS_PG_PORT", "eighty"],
      ["LOG_LEVEL", "loud"],
      ["OPS_DB_POOL_SIZE", "0"],
    ] as const) {
      assert.throws(
        () => loadConfig({ [key]: value }),
        (error: unknown) => error instanceof ConfigError && error.key === key && error.message.includes(key),
        key,
      );
    }
  });

  it("treats an empty variable as unset, as a blank line in .env means", () => {
    assert.equal(loadConfig({ DATABASE_URL: "" }).database.url, undefined);
  });

  it("rejects conflicting keys, naming both", () => {
    assert.throws(
      () => loadConfig({ DATABASE_URL: "postgres://localhost/x", OPS_PG_PORT: "5433" }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === "OPS_PG_PORT" &&
        /OPS_PG_PORT/.test(error.message) &&
        /DATABASE_URL/.test(error.message),
    );
    assert.throws(
      () => loadConfig({ OPS_TARGET: "aws" }),
      (error: unknown) => error instanceof ConfigError && error.key === "AWS_REGION",
    );
  });
});
