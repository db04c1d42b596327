import type { Params } from "./params/definitions.ts";

/**
 * The bounded broker window (issue 15, deliverable 6): `opsctl dry-run off --for 2h` writes
 * `dry-run-until` and then `dry-run` false; from `dry-run-until` on, dry-run is in effect again
 * whatever `dry-run` still says, so no decision reaches the broker after the deadline even before
 * anyone (the dispatcher, on noticing) writes `dry-run` back on. Pure, so the dispatcher, the
 * status screen and opsctl judge the window the same way at the same `now`.
 */

export interface DryRunWindow {
  /** ISO time the window ends. */
  until: string;
  /** Milliseconds left at `now`; 0 once it has ended. */
  remainingMs: number;
  /** True from `until` on: dry-run is in effect, whether or not it has been written back yet. */
  expired: boolean;
}

/** The window in force at `now`: null when dry-run is on or off without a deadline. */
export function dryRunWindow(
  params: Pick<Params, "dry-run" | "dry-run-until">,
  now: Date,
): DryRunWindow | null {
  const until = params["dry-run-until"];
  if (params["dry-run"] !== false || until === null) return null;
  const remainingMs = Date.parse(until) - now.getTime();
  return { until, remainingMs: Math.max(0, remainingMs), expired: !(remainingMs > 0) };
}

/** Dry-run as it is in effect at `now`: on when set, or when the broker window has ended. */
export function dryRunInEffect(params: Pick<Params, "dry-run" | "dry-run-until">, now: Date): boolean {
  return params["dry-run"] !== false || dryRunWindow(params, now)?.expired === true;
}

/** The parameters with dry-run as in effect at `now` (what every gate and executor then sees). */
export function withDryRunWindow<P extends Pick<Params, "dry-run" | "dry-run-until">>(
  params: P,
  now: Date,
): P {
  return dryRunInEffect(params, now) === params["dry-run"] ? params : { ...params, "dry-run": true };
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** The longest window `--for` accepts: a guard on going live is not meant to be left on for weeks. */
export const MAX_WINDOW_MS = 7 * UNIT_MS.d;

/**
 * A window's length as an operator types it: a whole number of minutes, hours or days (30m, 2h,
 * 1d), from 1 minute to 7 days. Returns null for anything else (the caller says what is expected).
 */
export function parseWindowDuration(text: string): number | null {
  const match = /^([1-9]\d{0,5})(m|h|d)$/.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms <= MAX_WINDOW_MS ? ms : null;
}
