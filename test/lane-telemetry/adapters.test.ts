import assert from "node:assert/strict";
import { loadConfig } from "../../services/common/config.ts";
import { ConfigError } from "../../services/common/errors.ts";
import { loadStages } from "../../services/registry.ts";

describe("lane-telemetry and dispatch-engine adapters", () => {
  it("registers both stages with the local runtime, every 5 minutes", async () => {
    const stages = await loadStages();
    for (const name of ["lane-telemetry", "dispatch-engine"]) {
      const stage = stages.find((s) => s.name === name);
      assert.ok(stage, name);
      assert.equal(stage.kind, "scheduled");
      assert.equal(stage.kind === "scheduled" && stage.intervalMs, 300_000);
    }
  });

  it("exports a Lambda handler for each stage without connecting at import", async () => {
    const [telemetry, engine] = await Promise.all([
      import("../../services/lane-telemetry/lambda.ts"),
      import("../../services/dispatch-engine/lambda.ts"),
    ]);
    assert.equal(typeof telemetry.handler, "function");
    assert.equal(typeof engine.handler, "function");
  });

  it("reads the market configuration with its defaults and names a bad key", () => {
    const market = loadConfig({}).market;
    assert.deepEqual(market.providers, ["yahoo", "alpaca"]);
    assert.equal(market.alpacaKeyIdSecret, "ALPACA_API_KEY_ID");
    assert.deepEqual(loadConfig({ OPS_MARKET_PROVIDERS: "alpaca,yahoo,alpaca" }).market.providers, [
      "alpaca",
      "yahoo",
    ]);
    assert.throws(
      () => loadConfig({ OPS_MARKET_PROVIDERS: "yahoo,polygon" }),
      (error: unknown) => error instanceof ConfigError && error.key === "OPS_MARKET_PROVIDERS",
    );
    assert.throws(
      () => loadConfig({ OPS_ALPACA_DATA_BASE_URL: "not a url" }),
      (error: unknown) => error instanceof ConfigError && error.key === "OPS_ALPACA_DATA_BASE_URL",
    );
  });
});
