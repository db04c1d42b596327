import type { Clock } from "../../../services/common/clock.ts";
import { EXCHANGE_TIME_ZONE, nyseSession } from "../../../services/common/market-calendar.ts";

/** The reference session the demo files are dated on (Tuesday 2026-01-06, 09:30-16:00 New York). */
export const REFERENCE_OPEN_MS = Date.parse("2026-01-06T14:30:00Z");
export const SESSION_MS = 390 * 60_000;
/**
 * Where in the session the demo clock starts: 100 minutes after the open, when the first 20
 * five-minute candles have completed. The dispatch engine needs 20 for its SMA20; starting at the
 * open would make a newcomer wait 100 demo minutes (100 s at 60×) before any recommendation.
 */
export const DEMO_START_OFFSET_MS = 20 * 5 * 60_000;

/**
 * The demo clock: starts `startOffsetMs` (0 unless given) after the open of a past session
 * (`demoOpenMs`) and runs `factor` times faster than the wall clock, stopping at the close. Never
 * ahead of real time when `demoOpenMs` is a session that closed before the demo started, so rows it
 * stamps are never in the future.
 */
export class DemoClock implements Clock {
  readonly demoOpenMs: number;
  readonly factor: number;
  readonly startOffsetMs: number;
  readonly #startedAtMs: number;
  readonly #wall: () => number;
  constructor(options: { demoOpenMs: number; factor: number; startOffsetMs?: number; wall?: () => number }) {
    this.demoOpenMs = options.demoOpenMs;
    this.factor = options.factor;
    this.startOffsetMs = options.startOffsetMs ?? 0;
    this.#wall = options.wall ?? Date.now;
    this.#startedAtMs = this.#wall();
  }
  now(): Date {
    const elapsed = this.startOffsetMs + (this.#wall() - this.#startedAtMs) * this.factor;
    return new Date(this.demoOpenMs + Math.min(elapsed, SESSION_MS));
  }
  /** The clock as a line: at wall time `wallOriginMs` it read `originMs`, it runs `factor`× and stops at `endsMs`. */
  describe(): { originMs: number; wallOriginMs: number; factor: number; endsMs: number } {
    return {
      originMs: this.demoOpenMs + this.startOffsetMs,
      wallOriginMs: this.#startedAtMs,
      factor: this.factor,
      endsMs: this.demoOpenMs + SESSION_MS,
    };
  }
  /** Shifts a time on the reference day onto the demo day. */
  fromReference(ms: number): number {
    return ms - REFERENCE_OPEN_MS + this.demoOpenMs;
  }
}

/**
 * The open (09:30 New York) of the latest full regular NYSE session that closed before `now`: no
 * weekend, holiday or early-close day (the dispatcher's market-hours gate reads the same calendar,
 * so every demo minute is one it trades in). Uses the offset New York has at that date (EST or EDT)
 * via Intl, so DST is right.
 * @throws Error when no such session is in the last 14 days (a year without calendar data).
 */
export function latestClosedSessionOpen(now: Date): number {
  for (let daysBack = 0; daysBack < 14; daysBack++) {
    const day = new Date(now.getTime() - daysBack * 86_400_000);
    const ymd = new Intl.DateTimeFormat("en-CA", {
      timeZone: EXCHANGE_TIME_ZONE,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).format(day);
    const weekday = new Intl.DateTimeFormat("en-US", {
      timeZone: EXCHANGE_TIME_ZONE,
      weekday: "short",
    }).format(day);
    if (weekday === "Sat" || weekday === "Sun") continue;
    // 09:30 New York is 14:30 UTC in winter (EST) and 13:30 UTC in summer (EDT).
    const winter = Date.parse(`${ymd}T14:30:00Z`);
    const hourThere = Number(
      new Intl.DateTimeFormat("en-US", {
        timeZone: EXCHANGE_TIME_ZONE,
        hour: "2-digit",
        hourCycle: "h23",
      }).format(winter),
    );
    const open = hourThere === 9 ? winter : winter - 3_600_000;
    // Open in the session's last minute: a regular day, not a holiday or an early close.
    if (open + SESSION_MS <= now.getTime() && nyseSession(new Date(open + SESSION_MS - 60_000)).open)
      return open;
  }
  throw new Error("no full NYSE session in the last 14 days (no exchange calendar for this year?)");
}
