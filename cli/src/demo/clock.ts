import type { Clock } from "../../../services/common/clock.ts";

/** The reference session the demo files are dated on (Tuesday 2026-01-06, 09:30-16:00 New York). */
export const REFERENCE_OPEN_MS = Date.parse("2026-01-06T14:30:00Z");
export const SESSION_MS = 390 * 60_000;

/**
 * The demo clock: starts at the open of a past session (`demoOpenMs`) and runs `factor` times faster
 * than the wall clock, stopping at the close. Never ahead of real time when `demoOpenMs` is a
 * session that closed before the demo started, so rows it stamps are never in the future.
 */
export class DemoClock implements Clock {
  readonly demoOpenMs: number;
  readonly factor: number;
  readonly #startedAtMs: number;
  readonly #wall: () => number;
  constructor(options: { demoOpenMs: number; factor: number; wall?: () => number }) {
    this.demoOpenMs = options.demoOpenMs;
    this.factor = options.factor;
    this.#wall = options.wall ?? Date.now;
    this.#startedAtMs = this.#wall();
  }
  now(): Date {
    const elapsed = (this.#wall() - this.#startedAtMs) * this.factor;
    return new Date(this.demoOpenMs + Math.min(elapsed, SESSION_MS));
  }
  /** Shifts a time on the reference day onto the demo day. */
  fromReference(ms: number): number {
    return ms - REFERENCE_OPEN_MS + this.demoOpenMs;
  }
}

/**
 * The open (09:30 New York) of the latest weekday session that closed before `now`. Uses the
 * offset New York has at that date (EST or EDT) via Intl, so DST is right.
 */
export function latestClosedSessionOpen(now: Date): number {
  for (let daysBack = 0; daysBack < 10; daysBack++) {
    const day = new Date(now.getTime() - daysBack * 86_400_000);
    const ymd = new Intl.DateTimeFormat("en-CA", {
      timeZone: "America/New_York",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
    }).format(day);
    const weekday = new Intl.DateTimeFormat("en-US", {
      timeZone: "America/New_York",
      weekday: "short",
    }).format(day);
    if (weekday === "Sat" || weekday === "Sun") continue;
    // 09:30 New York is 14:30 UTC in winter (EST) and 13:30 UTC in summer (EDT).
    const winter = Date.parse(`${ymd}T14:30:00Z`);
    const hourThere = Number(
      new Intl.DateTimeFormat("en-US", {
        timeZone: "America/New_York",
        hour: "2-digit",
        hourCycle: "h23",
      }).format(winter),
    );
    const open = hourThere === 9 ? winter : winter - 3_600_000;
    if (open + SESSION_MS <= now.getTime()) return open;
  }
  throw new Error("no weekday session in the last 10 days (impossible)");
}
