import {
  NYSE_CALENDAR,
  NYSE_CLOSE_MINUTE,
  NYSE_EARLY_CLOSE_MINUTE,
  NYSE_OPEN_MINUTE,
  NYSE_TIME_ZONE,
} from "./nyse-calendar.ts";

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

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

const formatter = new Intl.DateTimeFormat("en-US", {
  timeZone: NYSE_TIME_ZONE,
  hourCycle: "h23",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  weekday: "short",
});

/** The exchange-local reading of an instant (Intl does the DST arithmetic from the tz database). */
export function exchangeTime(at: Date): ExchangeTime {
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(at)) parts[part.type] = part.value;
  const hour = Number(parts.hour);
  const minute = Number(parts.minute);
  const second = Number(parts.second);
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    year: Number(parts.year),
    weekday: WEEKDAYS[parts.weekday ?? ""] ?? -1,
    minuteOfDay: hour * 60 + minute + (second + at.getUTCMilliseconds() / 1000) / 60,
    clock: `${parts.hour}:${parts.minute}:${parts.second}`,
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
