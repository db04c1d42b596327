import assert from "node:assert/strict";
import { isMarketOpen, newYorkOffsetMs } from "../../services/watchdog/market-hours.ts";

describe("the watchdog's New York time, without Intl", () => {
  it("agrees with Intl on the offset across both DST switches of a year", () => {
    const format = new Intl.DateTimeFormat("en-US", {
      timeZone: "America/New_York",
      timeZoneName: "shortOffset",
    });
    for (
      let t = Date.parse("2026-01-01T00:00:00Z");
      t < Date.parse("2027-01-01T00:00:00Z");
      t += 3 * 3_600_000
    ) {
      const name = format.formatToParts(new Date(t)).find((part) => part.type === "timeZoneName")?.value;
      assert.equal(
        newYorkOffsetMs(new Date(t)) / 3_600_000,
        Number(name?.replace("GMT", "")),
        new Date(t).toISOString(),
      );
    }
  });

  it("opens the session at 09:30 New York, summer and winter", () => {
    assert.equal(isMarketOpen(new Date("2026-11-24T14:29:00Z")), false);
    assert.equal(isMarketOpen(new Date("2026-11-24T14:30:00Z")), true);
    assert.equal(isMarketOpen(new Date("2026-07-07T13:30:00Z")), true);
    assert.equal(isMarketOpen(new Date("2026-07-07T20:00:00Z")), false);
  });
});
