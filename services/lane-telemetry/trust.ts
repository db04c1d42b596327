import type { Candle } from "./market-data.ts";

/**
 * Is a bar a price we may trade on (invariant 10)? Pure: the ticker's stored trusted bars, the
 * bars a provider just served, and the limits in; which bars are trusted, quarantined, confirmed
 * or rejected out. No bar becomes trusted because a provider said so: it must be a possible US
 * equity price and sane against the ticker's own recent history.
 */
export interface TrustLimits {
  /** Below this no US equity quotes (the smallest sub-penny tick is $0.0001). */
  minPriceUsd: number;
  /** Above this no US equity trades (BRK.A is under $1M). */
  maxPriceUsd: number;
  /** A move is suspicious beyond this many standard deviations of recent log returns... */
  jumpVolMultiple: number;
  /** ...but a move this small never is (quiet tickers would quarantine ordinary moves)... */
  jumpMinPct: number;
  /** ...and a move this large always is, whatever the history's volatility. */
  jumpMaxPct: number;
  /** Volume beyond this multiple of the history's median volume is suspicious. */
  volumeMaxMultiple: number;
  /** Trusted bars the volatility and volume medians are taken over. */
  historyBars: number;
  /** Another provider's bar at the same start confirms a suspicious one within this (close to close). */
  confirmTolerancePct: number;
}

/** One bar's dollar volume above this is not a market (the whole US market trades about $1e12 a day). */
export const MAX_DOLLAR_VOLUME_PER_BAR = 1e11;
/** Fewer log returns than this: the volatility is not known, only the absolute band applies. */
const MIN_RETURNS_FOR_VOLATILITY = 5;

export type QuarantineReason = "price-floor" | "price-ceiling" | "dollar-volume" | "jump" | "volume";
export type QuarantineStatus = "quarantined" | "confirmed" | "rejected";

export interface QuarantineEntry {
  candle: Candle;
  reason: QuarantineReason;
  /** The numbers behind the reason, in words. */
  detail: string;
  status: QuarantineStatus;
  /** How a confirmed or rejected bar was decided. */
  resolution: string | null;
}

export interface Assessment {
  /** Bars to store in lane_telemetry, ascending (confirmed ones included). */
  trusted: Candle[];
  /** Every bar that failed a check, with its final status in this pass. */
  quarantine: QuarantineEntry[];
}

export interface AssessInput {
  /** The ticker's trusted bars already stored (any order), from before and inside the window. */
  stored: readonly Candle[];
  /** The bars a provider served for the ticker, ascending. */
  incoming: readonly Candle[];
  /** Bar starts (ms) another provider served at a close within the tolerance. */
  corroborated?: ReadonlySet<number>;
  limits: TrustLimits;
}

const PRICES = ["open", "high", "low", "close"] as const;

function sameBar(a: Candle, b: Candle): boolean {
  return (
    a.open === b.open &&
    a.high === b.high &&
    a.low === b.low &&
    a.close === b.close &&
    a.volume === b.volume &&
    a.intervalSec === b.intervalSec
  );
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function stdev(values: readonly number[]): number {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, values.length - 1));
}

/** A price that can never be a US equity's: no later bar can confirm it. */
function impossible(
  candle: Candle,
  limits: TrustLimits,
): Omit<QuarantineEntry, "candle" | "status" | "resolution"> | null {
  const low = Math.min(...PRICES.map((p) => candle[p]));
  const high = Math.max(...PRICES.map((p) => candle[p]));
  if (low < limits.minPriceUsd) {
    return { reason: "price-floor", detail: `price ${low} below the floor ${limits.minPriceUsd}` };
  }
  if (high > limits.maxPriceUsd) {
    return { reason: "price-ceiling", detail: `price ${high} above the ceiling ${limits.maxPriceUsd}` };
  }
  const dollars = candle.volume * candle.close;
  if (dollars > MAX_DOLLAR_VOLUME_PER_BAR) {
    return {
      reason: "dollar-volume",
      detail: `dollar volume ${dollars.toExponential(3)} above ${MAX_DOLLAR_VOLUME_PER_BAR}`,
    };
  }
  return null;
}

/** The largest |ln(price / reference)| over a bar's open, high, low and close. */
function deviation(candle: Candle, reference: number): number {
  return Math.max(...PRICES.map((p) => Math.abs(Math.log(candle[p] / reference))));
}

/**
 * The allowed log move from the reference bar: `jumpVolMultiple` standard deviations of the
 * history's close-to-close log returns, scaled by the square root of the bars elapsed (a random
 * walk's spread), clamped between the minimum and maximum bands. Without enough history the
 * volatility is unknown and only the maximum band applies.
 */
export function allowedMove(history: readonly Candle[], barsElapsed: number, limits: TrustLimits): number {
  const lo = Math.log1p(limits.jumpMinPct / 100);
  const hi = Math.log1p(limits.jumpMaxPct / 100);
  const returns: number[] = [];
  for (let i = 1; i < history.length; i++) {
    returns.push(Math.log((history[i] as Candle).close / (history[i - 1] as Candle).close));
  }
  if (returns.length < MIN_RETURNS_FOR_VOLATILITY) return hi;
  const band = limits.jumpVolMultiple * stdev(returns) * Math.sqrt(Math.max(1, barsElapsed));
  return Math.min(hi, Math.max(lo, band));
}

const pct = (logMove: number) => `${((Math.exp(logMove) - 1) * 100).toFixed(1)}%`;

/**
 * Walks the incoming bars in time order against the trusted history (stored bars, then each bar
 * this pass accepted):
 * - an unchanged stored bar is trusted as it was;
 * - a bar outside the possible prices (floor, ceiling, dollar volume) is rejected outright;
 * - a bar that jumps from the last trusted close beyond `allowedMove`, or whose volume is beyond
 *   `volumeMaxMultiple` times the history's median, is quarantined, unless another provider
 *   corroborated it;
 * - a quarantined bar is confirmed by a later bar consistent with it (a real level shift: the
 *   later bar is then judged against it), and rejected by a later bar consistent with the old
 *   history instead (a spike).
 * With no trusted history at all, the first bar is judged against the median close of the
 * incoming bars, so one bar at 100x the others cannot become the reference.
 */
export function assessBars(input: AssessInput): Assessment {
  const { limits } = input;
  const corroborated = input.corroborated ?? new Set<number>();
  const history = [...input.stored].sort((a, b) => a.ts.getTime() - b.ts.getTime());
  const storedAt = new Map(history.map((c) => [c.ts.getTime(), c]));
  const trusted: Candle[] = [];
  const quarantine: QuarantineEntry[] = [];
  let pending: QuarantineEntry[] = [];
  const possible = input.incoming.filter((c) => impossible(c, limits) === null);
  const anchor = median(possible.map((c) => c.close));

  /** Trusted bars strictly before `tsMs`, newest last, at most historyBars. */
  const before = (tsMs: number) => {
    const out = history.filter((c) => c.ts.getTime() < tsMs);
    return out.slice(-limits.historyBars);
  };
  const accept = (candle: Candle) => {
    trusted.push(candle);
    const at = candle.ts.getTime();
    const index = history.findIndex((c) => c.ts.getTime() >= at);
    if (index < 0) history.push(candle);
    else if ((history[index] as Candle).ts.getTime() === at) history[index] = candle;
    else history.splice(index, 0, candle);
  };

  for (const candle of input.incoming) {
    const at = candle.ts.getTime();
    const stored = storedAt.get(at);
    if (stored && sameBar(stored, candle)) {
      trusted.push(candle);
      continue;
    }
    const bad = impossible(candle, limits);
    if (bad) {
      quarantine.push({ candle, ...bad, status: "rejected", resolution: "not a possible price" });
      continue;
    }
    const past = before(at);
    const reference = past.at(-1);
    const referenceClose = reference?.close ?? anchor ?? candle.close;
    const elapsed = reference ? (at - reference.ts.getTime()) / (candle.intervalSec * 1000) : 1;
    const band = allowedMove(past, elapsed, limits);
    const move = deviation(candle, referenceClose);
    const medianVolume = past.length >= MIN_RETURNS_FOR_VOLATILITY ? median(past.map((c) => c.volume)) : null;
    const volumeSuspicious =
      medianVolume !== null && medianVolume > 0 && candle.volume > limits.volumeMaxMultiple * medianVolume;
    const jumpSuspicious = move > band;

    if (!jumpSuspicious && !volumeSuspicious) {
      // A sane bar: quarantined bars it contradicts were spikes.
      for (const entry of pending) {
        if (deviation(entry.candle, candle.close) > band) {
          entry.status = "rejected";
          entry.resolution = `contradicted by the bar at ${candle.ts.toISOString()}`;
        }
      }
      pending = pending.filter((e) => e.status === "quarantined");
      accept(candle);
      continue;
    }
    if (corroborated.has(at)) {
      quarantine.push({
        candle,
        reason: jumpSuspicious ? "jump" : "volume",
        detail: "confirmed by another provider",
        status: "confirmed",
        resolution: "another provider served the same bar",
      });
      accept(candle);
      continue;
    }
    const latest = pending.at(-1);
    if (jumpSuspicious && latest && deviation(candle, latest.candle.close) <= band) {
      // Two bars in a row at the new level: a real move. The quarantined one is confirmed and
      // becomes the reference; this one is consistent with it.
      latest.status = "confirmed";
      latest.resolution = `confirmed by the bar at ${candle.ts.toISOString()}`;
      accept(latest.candle);
      for (const entry of pending) {
        if (entry !== latest) {
          entry.status = "rejected";
          entry.resolution = `superseded by the level confirmed at ${latest.candle.ts.toISOString()}`;
        }
      }
      pending = [];
      accept(candle);
      continue;
    }
    const entry: QuarantineEntry = {
      candle,
      reason: jumpSuspicious ? "jump" : "volume",
      detail: jumpSuspicious
        ? `moved ${pct(move)} from ${referenceClose} (${reference ? `the close at ${reference.ts.toISOString()}` : "the median of the answer"}); allowed ${pct(band)}`
        : `volume ${candle.volume} above ${limits.volumeMaxMultiple}x the median ${medianVolume}`,
      status: "quarantined",
      resolution: null,
    };
    quarantine.push(entry);
    pending.push(entry);
  }
  trusted.sort((a, b) => a.ts.getTime() - b.ts.getTime());
  return { trusted, quarantine };
}

/**
 * Bar starts (ms) of `suspicious` bars that `other` (another provider's bars for the same ticker)
 * served at a close within the tolerance.
 */
export function corroboratedStarts(
  suspicious: readonly Candle[],
  other: readonly Candle[],
  limits: Pick<TrustLimits, "confirmTolerancePct">,
): Set<number> {
  const byTs = new Map(other.map((c) => [c.ts.getTime(), c]));
  const tolerance = Math.log1p(limits.confirmTolerancePct / 100);
  const out = new Set<number>();
  for (const candle of suspicious) {
    const match = byTs.get(candle.ts.getTime());
    if (match && Math.abs(Math.log(match.close / candle.close)) <= tolerance) out.add(candle.ts.getTime());
  }
  return out;
}
