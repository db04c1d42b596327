import { type Level, levelFor, type Threshold, worstLevel as worst } from "../common/health.ts";
import { exchangeTime } from "../common/market-calendar.ts";
import { NYSE_CALENDAR } from "../common/nyse-calendar.ts";
import type { ServiceWindow } from "../common/stages.ts";
import { openMarketMsBetween, windowMsBetween } from "./market-hours.ts";
import {
  BACKLOG_THRESHOLDS,
  type SignalKind,
  type StageFreshness,
  WATCHED_STAGES,
  type WatchedStage,
} from "./thresholds.ts";

/** What the watchdog read from the database in one run; timestamps are epoch ms, null when never seen. */
export interface Observations {
  stages: Record<WatchedStage, Record<SignalKind, number | null>>;
  unclassified: { count: number; oldestAt: number | null };
  pending: { count: number; oldestAt: number | null };
  parked: { total: number; lastDay: number };
  /**
   * Stages whose last runs failed, with how many in a row (absent: not observed, e.g. a test's
   * hand-made observations).
   */
  failingStages?: ReadonlyArray<{ stage: string; consecutiveFailures: number; lastError: string | null }>;
  /** Enabled feeds with at least one consecutive failure. */
  failingFeeds: ReadonlyArray<{ id: number; name: string; consecutiveFailures: number }>;
  /** Bars the trust checks kept out of lane_telemetry (issue 17): first seen in the last hour, and still undecided. */
  quarantinedBars: { lastHour: number; open: number };
  /** Reconciliation differences (broker vs database) open: trading is reducing while any is. Absent: not observed. */
  reconcileDifferences?: ReadonlyArray<{ kind: string; subject: string }>;
  /**
   * Loss-limit trips not yet acknowledged (issue 15): the account is reducing while any is.
   * Absent: not observed.
   */
  tradingTrips?: ReadonlyArray<TripObservation>;
  /** Classified rows per label: the last 24 h, and the 7 days before them. */
  labels: { lastDay: Readonly<Record<string, number>>; week: Readonly<Record<string, number>> };
  /**
   * p95 from a headline stored to the dispatcher's decision over the last hour's recommendations
   * (services/common/latency.ts); absent: not observed (a test's hand-made observations).
   */
  latency?: { storedToDecidedP95Ms: number | null; count: number };
}

/** An open loss-limit trip as the watchdog reads it (dispatch_trading_trips). */
export interface TripObservation {
  id: number;
  account: string;
  kind: string;
  reason: string;
  values: Readonly<Record<string, unknown>>;
  trippedAt: number;
}

/**
 * ERROR while any loss-limit trip is open, naming each trip and the values it tripped on; OK
 * with none. The level changes only when the first trip opens or the last is acknowledged, so
 * the existing transition machinery alerts once for each.
 */
export function tradingTripsCheck(trips: ReadonlyArray<TripObservation>): CheckResult {
  const figures = (values: Readonly<Record<string, unknown>>) =>
    Object.entries(values)
      .filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k}=${Math.round((v as number) * 100) / 100}`)
      .join(" ");
  return {
    key: "trading:trips",
    kind: "trading",
    subject: "loss-limits",
    level: trips.length > 0 ? "ERROR" : "OK",
    value: trips.length,
    message:
      trips.length === 0
        ? "no loss limit tripped"
        : `${trips
            .slice(0, 5)
            .map(
              (t) =>
                `${t.kind} tripped #${t.id} on ${t.account} at ${new Date(t.trippedAt).toISOString()}: ${t.reason} (${figures(t.values)})`,
            )
            .join(
              "; ",
            )}${trips.length > 5 ? "; …" : ""}; trading is reducing until an operator runs \`opsctl trading active\``,
  };
}

/** Days before the NYSE calendar's last covered day from which the watchdog warns. */
export const CALENDAR_WARN_DAYS = 90;

/**
 * The exchange calendar's horizon (services/common/nyse-calendar.ts keeps holidays as data and
 * never guesses a year): WARN within CALENDAR_WARN_DAYS of its last covered day, ERROR once the
 * exchange year has none, since from then the market-hours gate rejects every order with
 * "no calendar for YYYY". A new year's dates are published by NYSE well before it starts.
 */
export function calendarCheck(
  now: Date,
  calendar: Readonly<Record<number, unknown>> = NYSE_CALENDAR,
): CheckResult {
  const year = exchangeTime(now).year;
  const lastYear = Math.max(...Object.keys(calendar).map(Number));
  const endMs = Date.UTC(lastYear + 1, 0, 1);
  const daysLeft = Math.floor((endMs - now.getTime()) / 86_400_000);
  const covered = year in calendar;
  const level: Level = !covered ? "ERROR" : daysLeft <= CALENDAR_WARN_DAYS ? "WARN" : "OK";
  return {
    key: "calendar:nyse",
    kind: "calendar",
    subject: "nyse",
    level,
    value: daysLeft,
    message: !covered
      ? `no NYSE holiday calendar for ${year}: the market-hours gate rejects every order; add the year to services/common/nyse-calendar.ts`
      : `NYSE holiday calendar covers through ${lastYear}-12-31 (${daysLeft} days left${level === "WARN" ? `; add ${lastYear + 1} to services/common/nyse-calendar.ts` : ""})`,
  };
}

/** Options of `evaluateChecks` that come from the parameter store. */
export interface CheckOptions {
  /** The `latency-alert-seconds` parameter, in ms: WARN above it, ERROR above 5x. */
  latencyAlertMs?: number;
}

/**
 * Stored → decided p95 against the `latency-alert-seconds` parameter. An hour without
 * recommendations is OK: nothing waited.
 */
export function latencyCheck(latency: NonNullable<Observations["latency"]>, alertMs: number): CheckResult {
  const p95 = latency.storedToDecidedP95Ms;
  const level: Level = p95 === null || p95 <= alertMs ? "OK" : p95 <= 5 * alertMs ? "WARN" : "ERROR";
  return {
    key: "latency:stored-to-decided",
    kind: "latency",
    subject: "stored-to-decided",
    level,
    value: p95 === null ? null : p95 / 1_000,
    count: latency.count,
    message:
      p95 === null
        ? "no recommendation decided in the last hour"
        : `p95 from headline stored to dispatcher decision ${formatDuration(p95)} over ${latency.count} recommendation(s) in the last hour (alert above ${formatDuration(alertMs)}, latency-alert-seconds)`,
  };
}

export type CheckKind =
  | "freshness"
  | "backlog"
  | "feeds"
  | "runs"
  | "drift"
  | "latency"
  | "reconcile"
  | "trading"
  | "calendar";

export interface CheckResult {
  /** Stable key of the check: the unit of alert state and deduplication. */
  key: string;
  kind: CheckKind;
  level: Level;
  /** The measured value (seconds of staleness, rows, share points), null when unknown. */
  value: number | null;
  message: string;
  /** For freshness checks: the stage; for backlogs: the backlog's name. Used as metric dimensions. */
  subject: string;
  /** Extra metric values for backlogs (count beside oldest age). */
  count?: number;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}min`;
  const h = m / 60;
  if (h < 48) return `${h.toFixed(1)}h`;
  return `${(h / 24).toFixed(1)}d`;
}

/**
 * One stage's freshness verdict: the worst of its signals against its thresholds. Exported for
 * `opsctl status`, which judges every stage of the table (the watchdog included) with it.
 */
export function freshnessCheck(
  stage: string,
  config: StageFreshness,
  seen: Record<SignalKind, number | null>,
  now: Date,
): CheckResult {
  const levels: Level[] = [];
  const parts: string[] = [];
  let staleness: number | null = null;
  for (const [signal, threshold] of Object.entries(config.signals) as Array<[SignalKind, Threshold]>) {
    const at = seen[signal];
    if (at === null) {
      levels.push(config.missingLevel);
      parts.push(`${signal}: never seen`);
      continue;
    }
    // Candles only count regular-session time: Friday 16:00 to Monday 09:35 is 5 minutes stale.
    // A service that runs only in a window (stages.ts runsIn) is silent outside it on purpose.
    const ageMs =
      signal === "data" && config.marketHours
        ? openMarketMsBetween(new Date(at), now)
        : config.runsIn
          ? windowMsBetween(new Date(at), now, config.runsIn)
          : Math.max(0, now.getTime() - at);
    const level = levelFor(ageMs, threshold);
    levels.push(level);
    staleness = Math.max(staleness ?? 0, ageMs / 1000);
    parts.push(
      `${signal} ${formatDuration(ageMs)} old${config.marketHours && signal === "data" ? " (market time)" : ageMs < now.getTime() - at ? " (service hours)" : ""}${
        level === "OK"
          ? ""
          : ` (${level} after ${formatDuration(level === "ERROR" ? threshold.errorAfterMs : threshold.warnAfterMs)})`
      }`,
    );
  }
  return {
    key: `freshness:${stage}`,
    kind: "freshness",
    subject: stage,
    level: worst(levels),
    value: staleness,
    message: `${stage}: ${parts.join("; ")}`,
  };
}

function backlogCheck(
  name: string,
  what: string,
  backlog: { count: number; oldestAt: number | null },
  threshold: Threshold,
  now: Date,
  drainedIn?: ServiceWindow,
): CheckResult {
  // A backlog drained by a windowed service ages only while that service runs.
  const ageMs =
    backlog.oldestAt === null
      ? 0
      : drainedIn
        ? windowMsBetween(new Date(backlog.oldestAt), now, drainedIn)
        : Math.max(0, now.getTime() - backlog.oldestAt);
  const level = backlog.count === 0 ? "OK" : levelFor(ageMs, threshold);
  return {
    key: `backlog:${name}`,
    kind: "backlog",
    subject: name,
    level,
    value: ageMs / 1000,
    count: backlog.count,
    message:
      backlog.count === 0
        ? `no ${what}`
        : `${backlog.count} ${what}, oldest ${formatDuration(ageMs)} old${level === "OK" ? "" : ` (${level})`}`,
  };
}

function countLevel(value: number, limits: { warn: number; error: number }): Level {
  if (value >= limits.error) return "ERROR";
  if (value >= limits.warn) return "WARN";
  return "OK";
}

/**
 * One check for all stages (an outage failing every stage is one alert): the stages whose runs
 * failed BACKLOG_THRESHOLDS.stageFailures.warn or more times in a row, worst first.
 */
function stageFailuresCheck(failing: NonNullable<Observations["failingStages"]>): CheckResult {
  const limits = BACKLOG_THRESHOLDS.stageFailures;
  const sorted = [...failing].sort((a, b) => b.consecutiveFailures - a.consecutiveFailures);
  const repeated = sorted.filter((stage) => stage.consecutiveFailures >= limits.warn);
  return {
    key: "runs:failing",
    kind: "runs",
    subject: "stages",
    level: worst(sorted.map((stage) => countLevel(stage.consecutiveFailures, limits))),
    value: repeated.length,
    message:
      repeated.length === 0
        ? "no stage failing repeatedly"
        : `${repeated.length} stage(s) failing repeatedly: ${repeated
            .map(
              (stage) =>
                `${stage.stage} (${stage.consecutiveFailures} runs in a row${stage.lastError ? `; last: ${stage.lastError.slice(0, 200)}` : ""})`,
            )
            .join(", ")}`,
  };
}

/** Shares of each label in a count table; an empty table gives no shares. */
function shares(counts: Readonly<Record<string, number>>): {
  total: number;
  share: (label: string) => number;
} {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { total, share: (label) => (total === 0 ? 0 : (counts[label] ?? 0) / total) };
}

function driftCheck(labels: Observations["labels"]): CheckResult {
  const limits = BACKLOG_THRESHOLDS.labelDrift;
  const day = shares(labels.lastDay);
  const week = shares(labels.week);
  if (day.total < limits.minLastDay || week.total < limits.minWeek) {
    return {
      key: "drift:labels",
      kind: "drift",
      subject: "labels",
      level: "OK",
      value: null,
      message: `too few classified rows to judge drift (${day.total} last day, ${week.total} week before; need ${limits.minLastDay} and ${limits.minWeek})`,
    };
  }
  let largest = 0;
  let label = "";
  for (const candidate of new Set([...Object.keys(labels.lastDay), ...Object.keys(labels.week)])) {
    const delta = Math.abs(day.share(candidate) - week.share(candidate));
    if (delta > largest) {
      largest = delta;
      label = candidate;
    }
  }
  const level = largest >= limits.error ? "ERROR" : largest >= limits.warn ? "WARN" : "OK";
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  return {
    key: "drift:labels",
    kind: "drift",
    subject: "labels",
    level,
    value: largest,
    message: label
      ? `label shares moved by at most ${pct(largest)} (${label}: ${pct(day.share(label))} last day vs ${pct(week.share(label))} the week before)`
      : "label shares unchanged",
  };
}

/**
 * Judges one run's observations. Pure: the same observations, thresholds and `now` give the same
 * results, which is what lets the transition tests run on a fake clock.
 */
export function evaluateChecks(
  observations: Observations,
  freshness: Readonly<Record<WatchedStage, StageFreshness>>,
  now: Date,
  options: CheckOptions = {},
): CheckResult[] {
  const results: CheckResult[] = WATCHED_STAGES.map((stage) =>
    freshnessCheck(stage, freshness[stage], observations.stages[stage], now),
  );
  results.push(
    backlogCheck(
      "unclassified",
      "unclassified raw events",
      observations.unclassified,
      BACKLOG_THRESHOLDS.unclassifiedAge,
      now,
      freshness.sortation.runsIn,
    ),
    backlogCheck(
      "pending-recommendations",
      "PENDING recommendations",
      observations.pending,
      BACKLOG_THRESHOLDS.pendingAge,
      now,
      freshness.dispatcher.runsIn,
    ),
  );
  const parkedLevel = countLevel(observations.parked.lastDay, BACKLOG_THRESHOLDS.parkedLastDay);
  results.push({
    key: "backlog:parked",
    kind: "backlog",
    subject: "parked",
    level: parkedLevel,
    value: observations.parked.lastDay,
    count: observations.parked.total,
    message: `${observations.parked.lastDay} raw events parked in the last 24h (${observations.parked.total} parked in all)`,
  });
  // Untrusted market data is never traded, but an operator must know a provider is sending it.
  const quarantined = observations.quarantinedBars;
  results.push({
    key: "backlog:quarantined-bars",
    kind: "backlog",
    subject: "quarantined-bars",
    level: countLevel(quarantined.lastHour, BACKLOG_THRESHOLDS.quarantinedBarsLastHour),
    value: quarantined.lastHour,
    count: quarantined.open,
    message: `${quarantined.lastHour} market bars quarantined in the last hour (${quarantined.open} undecided); see lane_telemetry_quarantine`,
  });
  const failing = [...observations.failingFeeds].sort(
    (a, b) => b.consecutiveFailures - a.consecutiveFailures,
  );
  const feedLevel = worst(
    failing.map((feed) => countLevel(feed.consecutiveFailures, BACKLOG_THRESHOLDS.feedFailures)),
  );
  const repeated = failing.filter((feed) => feed.consecutiveFailures >= BACKLOG_THRESHOLDS.feedFailures.warn);
  // One check for all feeds, not one per feed: a network outage failing 40 feeds is one alert.
  results.push({
    key: "feeds:failing",
    kind: "feeds",
    subject: "feeds",
    level: feedLevel,
    value: repeated.length,
    message:
      repeated.length === 0
        ? "no feed failing repeatedly"
        : `${repeated.length} feed(s) failing repeatedly: ${repeated
            .slice(0, 5)
            .map((feed) => `${feed.name} (#${feed.id}, ${feed.consecutiveFailures} in a row)`)
            .join(", ")}${repeated.length > 5 ? ", …" : ""}`,
  });
  results.push(stageFailuresCheck(observations.failingStages ?? []));
  // Any difference is an ERROR: the database no longer says what the broker holds, and trading
  // stays reduce-only until an operator runs `opsctl reconcile --accept`.
  const differences = observations.reconcileDifferences ?? [];
  results.push({
    key: "reconcile:differences",
    kind: "reconcile",
    subject: "broker",
    level: differences.length > 0 ? "ERROR" : "OK",
    value: differences.length,
    message:
      differences.length === 0
        ? "broker and database agree"
        : `${differences.length} difference(s) between the broker and the database (${differences
            .slice(0, 5)
            .map((d) => `${d.kind} ${d.subject}`)
            .join(
              ", ",
            )}${differences.length > 5 ? ", …" : ""}); trading is reducing: see \`opsctl reconcile\``,
  });
  if (observations.tradingTrips) results.push(tradingTripsCheck(observations.tradingTrips));
  results.push(calendarCheck(now));
  results.push(driftCheck(observations.labels));
  if (observations.latency && options.latencyAlertMs !== undefined)
    results.push(latencyCheck(observations.latency, options.latencyAlertMs));
  return results;
}

export interface StoredCheckState {
  checkKey: string;
  level: Level;
  since: number;
}

export interface Transition {
  checkKey: string;
  from: Level;
  to: Level;
  message: string;
  value: number | null;
}

/**
 * Alerts on transitions only: a check staying at its level says nothing, however many runs see
 * it. A check seen for the first time starts from OK, so a first sighting at WARN or ERROR alerts.
 */
export function computeTransitions(
  previous: ReadonlyMap<string, StoredCheckState>,
  results: readonly CheckResult[],
): Transition[] {
  const transitions: Transition[] = [];
  for (const result of results) {
    const from = previous.get(result.key)?.level ?? "OK";
    if (from !== result.level) {
      transitions.push({
        checkKey: result.key,
        from,
        to: result.level,
        message: result.message,
        value: result.value,
      });
    }
  }
  return transitions;
}
