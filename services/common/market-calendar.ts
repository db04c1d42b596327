import {
  NYSE_CALENDAR,
  NYSE_CLOSE_MINUTE,
  NYSE_EARLY_CLOSE_MINUTE,
  NYSE_OPEN_MINUTE,
} from "./nyse-calendar.ts";

/**
 * The one market calendar: the exchange's time zone, its wall clock and NYSE's regular session
 * with holidays and early closes (nyse-calendar.ts). The dispatcher's market-hours gate and its
 * trades-per-day count, `opsctl status` and the demo clock all read it, so "is the market open"
 * has one answer. The watchdog keeps its own deliberately small model (services/watchdog/
 * market-hours.ts) so that a bug here cannot also silence the alarm about it.
 *
 * New York's offset is US-rule arithmetic, not Intl: the first Intl time-zone lookup costs
 * 40-65 ms of ICU start-up (measured here: `node -e` with one DateTimeFormat), which every
 * `opsctl status` would pay. The rule (EDT from the second Sunday of March 02:00 to the first
 * Sunday of November 02:00, since 2007) is checked against Intl for every 3 hours of each
 * calendar year in test/common/market-calendar.test.ts, so a change to the tz database shows up
 * as a failing test, and a year without calendar data is closed anyway (see nyseSession).
 */

/** The exchange's zone, spelled once: SQL (`AT TIME ZONE`) and Intl callers use this. */
export const EXCHANGE_TIME_ZONE = "America/New_York";

/** New York's UTC offset at `at` in ms (−4 h in summer, −5 h in winter), by the US rule. */
export function newYorkOffsetMs(at: Date): number {
  const year = at.getUTCFullYear();
  const nthSunday = (month: number, n: number) => {
    const first = new Date(Date.UTC(year, month, 1)).getUTCDay();
    return 1 + ((7 - first) % 7) + (n - 1) * 7;
  };
  // 02:00 EST = 07:00 UTC (spring forward); 02:00 EDT = 06:00 UTC (fall back).
  const dstStart = Date.UTC(year, 2, nthSunday(2, 2), 7);
  const dstEnd = Date.UTC(year, 10, nthSunday(10, 1), 6);
  const t = at.getTime();
  return t >= dstStart && t < dstEnd ? -4 * 3_600_000 : -5 * 3_600_000;
}

/** A wall-clock reading in the exchange's time zone. */
export interface ExchangeTime {
  /** YYYY-MM-DD, exchange-local. */
  date: string;
  year: number;
  /** 0 = Sunday … 6 = Saturday. */
  weekday: number;
  /** Minutes after exchange-local midnight, fractional (seconds and ms included). */
  minuteOfDay: number;
  /** HH:MM:SS, for gate records. */
  clock: string;
}

const two = (n: number) => String(n).padStart(2, "0");

/** The exchange-local reading of an instant. */
export function exchangeTime(at: Date): ExchangeTime {
  const local = new Date(at.getTime() + newYorkOffsetMs(at));
  const [hour, minute, second] = [local.getUTCHours(), local.getUTCMinutes(), local.getUTCSeconds()];
  return {
    date: `${local.getUTCFullYear()}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}`,
    year: local.getUTCFullYear(),
    weekday: local.getUTCDay(),
    minuteOfDay: hour * 60 + minute + (second + local.getUTCMilliseconds() / 1000) / 60,
    clock: `${two(hour)}:${two(minute)}:${two(second)}`,
  };
}

export interface MarketSession {
  open: boolean;
  /** Why: "regular session", "early close day", "weekend", "holiday: …", "before open", "after close", "no calendar for YYYY". */
  reason: string;
  exchangeDate: string;
  exchangeClock: string;
  /** HH:MM of the day's session, null when the exchange does not open that day. */
  opensAt: string | null;
  closesAt: string | null;
}

const hhmm = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;

/**
 * Whether NYSE's regular session is open at `at`: [09:30, 16:00) exchange time, [09:30, 13:00)
 * on early-close days, closed on weekends and holidays. A year without calendar data is closed
 * (fail safe): trading on an unknown holiday is worse than missing a day.
 */
export function nyseSession(at: Date): MarketSession {
  const local = exchangeTime(at);
  const base = { exchangeDate: local.date, exchangeClock: local.clock };
  const year = NYSE_CALENDAR[local.year];
  if (!year)
    return { ...base, open: false, reason: `no calendar for ${local.year}`, opensAt: null, closesAt: null };
  if (local.weekday === 0 || local.weekday === 6) {
    return { ...base, open: false, reason: "weekend", opensAt: null, closesAt: null };
  }
  const holiday = year.holidays[local.date];
  if (holiday) return { ...base, open: false, reason: `holiday: ${holiday}`, opensAt: null, closesAt: null };
  const early = year.earlyCloses[local.date];
  const close = early ? NYSE_EARLY_CLOSE_MINUTE : NYSE_CLOSE_MINUTE;
  const session = { ...base, opensAt: hhmm(NYSE_OPEN_MINUTE), closesAt: hhmm(close) };
  if (local.minuteOfDay < NYSE_OPEN_MINUTE) return { ...session, open: false, reason: "before open" };
  if (local.minuteOfDay >= close) return { ...session, open: false, reason: "after close" };
  return { ...session, open: true, reason: early ? `early close day (${early})` : "regular session" };
}
