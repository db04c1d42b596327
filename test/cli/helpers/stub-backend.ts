import type { OpsBackend } from "../../../cli/src/backend.ts";
import { FakeClock } from "../../../services/common/clock.ts";

const unused = () => Promise.reject(new Error("not used in this test"));

/**
 * An OpsBackend whose every operation rejects ("not used in this test") unless the test gives
 * it: one place to grow when the backend gains an operation, instead of a copy per test file.
 */
export function stubBackend<Extra extends object = object>(
  overrides: Partial<OpsBackend> & Extra = {} as Partial<OpsBackend> & Extra,
): OpsBackend & Extra {
  const base: OpsBackend = {
    target: "local",
    clock: new FakeClock("2026-11-24T15:00:00Z"),
    statusSnapshot: unused,
    listRecommendations: unused,
    explainRecommendation: unused,
    params: () => {
      throw new Error("params not used in this test");
    },
    paramAudit: unused,
    listFeeds: unused,
    addFeed: unused,
    changeFeed: unused,
    setFeedInterval: unused,
    replay: unused,
    listBackups: unused,
    latency: unused,
    reconcileReport: unused,
    acceptReconcile: unused,
    positions: unused,
    orders: unused,
    decideRecommendation: unused,
    tradingReport: unused,
    acknowledgeTrips: unused,
    closePositions: unused,
    close: async () => undefined,
  };
  return { ...base, ...overrides };
}
