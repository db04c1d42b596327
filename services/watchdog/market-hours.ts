/**
 * A deliberately small NYSE regular-session model for the watchdog: Monday to Friday,
 * 09:30–16:00 America/New_York, daylight saving by the US rule (no Intl, so status pays no ICU start-up). It knows no holidays or
 * half days. The shared exchange calendar (services/common/market-calendar.ts, read by the
 * dispatcher's gates, `opsctl status` and the demo clock) is deliberately not used here: a bug
 * in it (a wrong holiday, a missing year, a wrong offset) would then also silence the alarm
 * about the stale candles it causes. Two independent models fail differently. On a holiday the
 * candle check therefore reads the day as open and warns: a false alarm, never a missed one.
 */

const OPEN_MINUTE = 9 * 60 + 30;
const CLOSE_MINUTE = 16 * 60;
const DAY_MS = 86_400_000;

/**
 * New York's UTC offset at an instant, in ms, by the US rule (EDT from the second Sunday of March
 * 02:00 local to the first Sunday of November 02:00 local). Arithmetic instead of Intl: the first
 * Intl time-zone lookup costs 40-100 ms of ICU start-up, which `opsctl status` (judging candles
 * with these checks) would pay on every run. test/watchdog/market-hours.test.ts holds it to Intl.
 */
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

function zoneOffsetMs(atMs: number): number {
  return newYorkOffsetMs(new Date(atMs));
}

/** The UTC instant of a New York wall-clock time on a calendar day (y, m0, d). */
function newYorkWallToUtc(year: number, month0: number, day: number, minuteOfDay: number): number {
  const naive = Date.UTC(year, month0, day, 0, minuteOfDay);
  // Two passes settle the offset even on the days daylight saving changes (never at 09:30 or 16:00).
  let guess = naive - zoneOffsetMs(naive);
  guess = naive - zoneOffsetMs(guess);
  return guess;
}

/**
 * The window [open, close) (New York minutes of the day; the regular session unless given) of each
 * weekday from the New York date of `fromMs` to that of `toMs`.
 */
function sessionsBetween(
  fromMs: number,
  toMs: number,
  openMinute = OPEN_MINUTE,
  closeMinute = CLOSE_MINUTE,
): Array<[number, number]> {
  const sessions: Array<[number, number]> = [];
  // Walk New York calendar dates (as UTC midnights), so daylight saving cannot skip a day.
  const first = new Date(fromMs + zoneOffsetMs(fromMs));
  const last = new Date(toMs + zoneOffsetMs(toMs));
  const lastDay = Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), last.getUTCDate());
  for (
    let day = Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), first.getUTCDate());
    day <= lastDay;
    day += DAY_MS
  ) {
    const d = new Date(day);
    const weekday = d.getUTCDay();
    if (weekday === 0 || weekday === 6) continue;
    const y = d.getUTCFullYear();
    const m = d.getUTCMonth();
    const date = d.getUTCDate();
    sessions.push([newYorkWallToUtc(y, m, date, openMinute), newYorkWallToUtc(y, m, date, closeMinute)]);
  }
  return sessions;
}

/** True while the regular session is open at `at`. */
export function isMarketOpen(at: Date): boolean {
  const ms = at.getTime();
  return sessionsBetween(ms, ms).some(([open, close]) => ms >= open && ms < close);
}

/**
 * Milliseconds of regular-session time between two instants: how stale candles are in the only
 * time that counts for them. Spans longer than `capMs` of wall time are cut to the last `capMs`
 * (default 14 days), so a table empty for months costs a bounded loop.
 */
export function openMarketMsBetween(from: Date, to: Date, capMs = 14 * DAY_MS): number {
  return windowMsBetween(from, to, { fromMinute: OPEN_MINUTE, toMinute: CLOSE_MINUTE }, capMs);
}

/**
 * Milliseconds of a weekday window's time (New York minutes [fromMinute, toMinute), Monday to
 * Friday) between two instants: how long a service that runs only in that window has really been
 * silent (stages.ts `runsIn`). Same cap as openMarketMsBetween.
 */
export function windowMsBetween(
  from: Date,
  to: Date,
  window: { readonly fromMinute: number; readonly toMinute: number },
  capMs = 14 * DAY_MS,
): number {
  const end = to.getTime();
  const start = Math.max(from.getTime(), end - capMs);
  if (end <= start) return 0;
  let total = 0;
  for (const [open, close] of sessionsBetween(start, end, window.fromMinute, window.toMinute)) {
    const overlap = Math.min(close, end) - Math.max(open, start);
    if (overlap > 0) total += overlap;
  }
  return total;
}
