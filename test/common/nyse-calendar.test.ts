import assert from "node:assert/strict";
import { NYSE_CALENDAR } from "../../services/common/nyse-calendar.ts";

// Re-derives the calendar data from NYSE Rule 7.2's pattern, independently of the data file:
// fixed-date holidays move to Friday when on a Saturday and to Monday when on a Sunday, except
// New Year's Day on a Saturday (not observed); Monday holidays are nth / last weekdays; Good
// Friday is two days before Western Easter. Early closes: the day after Thanksgiving, Christmas
// Eve when it is a trading day, and July 3 when it is a trading day before July 4.

const ymd = (d: Date) => d.toISOString().slice(0, 10);
const utc = (y: number, m: number, d: number) => new Date(Date.UTC(y, m - 1, d));

function nthWeekday(year: number, month: number, weekday: number, n: number): Date {
  const first = utc(year, month, 1);
  const offset = (weekday - first.getUTCDay() + 7) % 7;
  return utc(year, month, 1 + offset + (n - 1) * 7);
}

function lastWeekday(year: number, month: number, weekday: number): Date {
  const last = utc(year, month + 1, 0);
  return utc(year, month, last.getUTCDate() - ((last.getUTCDay() - weekday + 7) % 7));
}

function easter(year: number): Date {
  // Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return utc(year, month, day);
}

function observed(date: Date): Date | null {
  const dow = date.getUTCDay();
  if (dow === 6) return utc(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate() - 1);
  if (dow === 0) return utc(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate() + 1);
  return date;
}

function derivedHolidays(year: number): string[] {
  const newYear = utc(year, 1, 1);
  const days = [
    newYear.getUTCDay() === 6 ? null : observed(newYear),
    nthWeekday(year, 1, 1, 3),
    nthWeekday(year, 2, 1, 3),
    utc(year, easter(year).getUTCMonth() + 1, easter(year).getUTCDate() - 2),
    lastWeekday(year, 5, 1),
    observed(utc(year, 6, 19)),
    observed(utc(year, 7, 4)),
    nthWeekday(year, 9, 1, 1),
    nthWeekday(year, 11, 4, 4),
    observed(utc(year, 12, 25)),
  ];
  return days
    .filter((d): d is Date => d !== null)
    .map(ymd)
    .sort();
}

function derivedEarlyCloses(year: number, holidays: readonly string[]): string[] {
  const tradingDay = (d: Date) => d.getUTCDay() !== 0 && d.getUTCDay() !== 6 && !holidays.includes(ymd(d));
  const thanksgiving = nthWeekday(year, 11, 4, 4);
  const out = [utc(year, 11, thanksgiving.getUTCDate() + 1)];
  const christmasEve = utc(year, 12, 24);
  if (tradingDay(christmasEve)) out.push(christmasEve);
  const july3 = utc(year, 7, 3);
  if (tradingDay(july3)) out.push(july3);
  return out.map(ymd).sort();
}

describe("NYSE calendar data", () => {
  for (const year of [2026, 2027]) {
    it(`lists exactly the ${year} holidays NYSE's rules produce`, () => {
      assert.deepEqual(Object.keys(NYSE_CALENDAR[year]?.holidays ?? {}).sort(), derivedHolidays(year));
    });
    it(`lists exactly the ${year} early closes NYSE's rules produce`, () => {
      const holidays = derivedHolidays(year);
      assert.deepEqual(
        Object.keys(NYSE_CALENDAR[year]?.earlyCloses ?? {}).sort(),
        derivedEarlyCloses(year, holidays),
      );
    });
  }

  it("matches the dates given in the issue", () => {
    assert.deepEqual(Object.keys(NYSE_CALENDAR[2026]?.holidays ?? {}), [
      "2026-01-01",
      "2026-01-19",
      "2026-02-16",
      "2026-04-03",
      "2026-05-25",
      "2026-06-19",
      "2026-07-03",
      "2026-09-07",
      "2026-11-26",
      "2026-12-25",
    ]);
    assert.deepEqual(Object.keys(NYSE_CALENDAR[2027]?.holidays ?? {}), [
      "2027-01-01",
      "2027-01-18",
      "2027-02-15",
      "2027-03-26",
      "2027-05-31",
      "2027-06-18",
      "2027-07-05",
      "2027-09-06",
      "2027-11-25",
      "2027-12-24",
    ]);
  });
});
