import assert from "node:assert/strict";
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
});
