import assert from "node:assert/strict";
import { periodMsOf, STAGE_NAMES, STAGE_TABLE, WATCHED_STAGES } from "../../services/common/stages.ts";
import { loadStages } from "../../services/registry.ts";
import { DEFAULT_FRESHNESS } from "../../services/watchdog/thresholds.ts";
import { LAMBDAS } from "../../stack/plan.ts";

describe("the stage table (services/common/stages.ts)", () => {
  it("gives every liveness signal room for three missed runs before it warns, and errors no sooner", () => {
    for (const name of STAGE_NAMES) {
      const spec = STAGE_TABLE[name];
      const period = periodMsOf(spec);
      for (const [signal, threshold] of Object.entries(spec.freshness.signals)) {
        assert.ok(threshold.errorAfterMs >= threshold.warnAfterMs, `${name}.${signal}: error before warn`);
        const missedRuns = signal === "data" ? 1 : 3;
        assert.ok(
          threshold.warnAfterMs >= missedRuns * period,
          `${name}.${signal} warns after ${threshold.warnAfterMs} ms, under ${missedRuns} × its ${period} ms cadence`,
        );
      }
    }
  });

  it("is what the local runtime runs: each registered stage with the table's kind and interval", async () => {
    const stages = await loadStages();
    for (const stage of stages) {
      const spec = STAGE_TABLE[stage.name as keyof typeof STAGE_TABLE];
      assert.ok(spec, `${stage.name} is registered but not in the stage table`);
      if (stage.kind === "scheduled" && spec.cadence.kind === "nightly") {
        // A nightly stage polls for its slot; the slot is the table's (the stack's cron too).
        const { NIGHTLY_SLOT_UTC, SLOT_CHECK_INTERVAL_MS } = await import("../../services/backup/stage.ts");
        assert.equal(stage.name, "backup");
        assert.deepEqual(NIGHTLY_SLOT_UTC, spec.cadence.atUtc);
        assert.equal(stage.intervalMs, SLOT_CHECK_INTERVAL_MS);
      } else if (stage.kind === "scheduled") {
        assert.deepEqual(spec.cadence, { kind: "every", intervalMs: stage.intervalMs }, stage.name);
        // A faster local tick (inbound-dock's, for feeds polled faster than once a minute) never
        // changes the table's cadence, which is the AWS schedule; it may only be faster.
        if (stage.localIntervalMs !== undefined) {
          assert.ok(
            stage.localIntervalMs < stage.intervalMs,
            `${stage.name}: local tick slower than its table cadence`,
          );
        }
      } else {
        assert.equal(spec.cadence.kind, "always-on", stage.name);
      }
    }
    // Every stage of the table runs locally, the nightly backup included.
    assert.deepEqual(
      STAGE_NAMES.filter((name) => !stages.some((stage) => stage.name === name)),
      [],
    );
  });

  it("is what the watchdog watches and the stack schedules", () => {
    assert.deepEqual(Object.keys(DEFAULT_FRESHNESS), WATCHED_STAGES);
    assert.ok(!(WATCHED_STAGES as string[]).includes("watchdog"), "the watchdog does not judge itself");
    for (const stage of WATCHED_STAGES) assert.equal(DEFAULT_FRESHNESS[stage], STAGE_TABLE[stage].freshness);
    const timed = STAGE_NAMES.filter((name) => STAGE_TABLE[name].cadence.kind === "every");
    assert.deepEqual(LAMBDAS.map((lambda) => lambda.stage).sort(), [...timed].sort());
    for (const lambda of LAMBDAS) {
      assert.equal(lambda.intervalMinutes * 60_000, periodMsOf(STAGE_TABLE[lambda.stage]), lambda.stage);
    }
  });
});
