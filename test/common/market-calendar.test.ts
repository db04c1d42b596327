import assert from "node:assert/strict";
import {
  EXCHANGE_TIME_ZONE,
  exchangeTime,
  newYorkOffsetMs,
  nyseSession,
} from "../../services/common/market-calendar.ts";
import { NYSE_CALENDAR } from "../../services/common/nyse-calendar.ts";

describe("the market calendar", () => {
  const years = Object.keys(NYSE_CALENDAR).map(Number);
  const offsetName = new Intl.DateTimeFormat("en-US", {
    timeZone: EXCHANGE_TIME_ZONE,
    timeZoneName: "shortOffset",
  });
  const wall = new Intl.DateTimeFormat("en-CA", {
    timeZone: EXCHANGE_TIME_ZONE,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });

  for (const year of years) {
    it(`agrees with Intl's tz database on New York's offset and wall clock every 3 hours of ${year}`, () => {
      for (let t = Date.UTC(year, 0, 1); t < Date.UTC(year + 1, 0, 1); t += 3 * 3_600_000) {
        const at = new Date(t);
        const name = offsetName.formatToParts(at).find((part) => part.type === "timeZoneName")?.value;
        assert.equal(newYorkOffsetMs(at) / 3_600_000, Number(name?.replace("GMT", "")), at.toISOString());
        const parts = Object.fromEntries(wall.formatToParts(at).map((part) => [part.type, part.value]));
        const local = exchangeTime(at);
        assert.equal(local.date, `${parts.year}-${parts.month}-${parts.day}`, at.toISOString());
        assert.equal(local.clock, `${parts.hour}:${parts.minute}:${parts.second}`, at.toISOString());
      }
    });
  }

  it("says why the market is closed: weekend, holiday, before open, after an early close", () => {
    assert.equal(nyseSession(new Date("2026-12-05T16:00:00Z")).reason, "weekend");
    assert.match(nyseSession(new Date("2026-12-25T16:00:00Z")).reason, /^holiday: Christmas Day/);
    assert.equal(nyseSession(new Date("2026-12-01T14:29:59.999Z")).reason, "before open");
    assert.equal(nyseSession(new Date("2026-12-24T18:00:00Z")).reason, "after close");
    assert.equal(nyseSession(new Date("2028-03-01T16:00:00Z")).reason, "no calendar for 2028");
  });
});
