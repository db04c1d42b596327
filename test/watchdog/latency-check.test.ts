import assert from "node:assert/strict";
import { latencyCheck } from "../../services/watchdog/checks.ts";

describe("the watchdog's latency check (stored → decided p95 against latency-alert-seconds)", () => {
  it("is OK at or under the threshold, WARN above it, ERROR above five times it", () => {
    const level = (p95: number | null) => latencyCheck({ storedToDecidedP95Ms: p95, count: 7 }, 60_000).level;
    assert.deepEqual(
      [level(60_000), level(60_001), level(300_000), level(300_001)],
      ["OK", "WARN", "WARN", "ERROR"],
    );
  });

  it("is OK with no recommendation decided in the hour, and names the figure and the parameter otherwise", () => {
    assert.equal(latencyCheck({ storedToDecidedP95Ms: null, count: 0 }, 60_000).level, "OK");
    const check = latencyCheck({ storedToDecidedP95Ms: 90_000, count: 7 }, 60_000);
    assert.equal(check.value, 90);
    assert.match(check.message, /p95 .* over 7 recommendation\(s\).*latency-alert-seconds/);
  });
});
