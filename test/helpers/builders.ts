/**
 * Test builders: one typed row per pipeline table with sensible defaults, any field overridable,
 * and one batched insert per table (a single `sql.unnest` statement however many rows).
 *
 *   const [rawId] = await insertRawEvents(db, [rawEvent({ title: "Acme beats" })]);
 *   await insertClassified(db, [classified({ rawId, tickers: ["ACME"], score: 0.8 })]);
 *   await insertCandles(db, candles("ACME", { lastStart, closes: trend(100, 104) }));
 *   await insertRecommendations(db, [recommendation({ ticker: "ACME" })]);
 *
 * Builders are pure (no database): a fixture can build rows, adjust them, then insert them all.
 * Inserts return ids in the order the rows were given.
 */
import * as z from "zod";
import { type CommonQueryMethods, sql } from "../../services/common/db.ts";

const RawIdRow = z.object({ id: z.coerce.number(), event_uid: z.string() });
const ClassifiedIdRow = z.object({ id: z.coerce.number(), raw_id: z.coerce.number() });

/** Default instant: Tuesday 2026-12-01 10:00 New York, a regular session. */
export const BUILDER_NOW = new Date("2026-12-01T15:00:00.000Z");

const MINUTE_MS = 60_000;
const CANDLE_MS = 5 * MINUTE_MS;
let sequence = 0;
/** Unique within the process (and across processes sharing a database: the pid is part of it). */
function nextUid(prefix: string): string {
  sequence += 1;
  return `${prefix}:${process.pid}:${sequence}`;
}
const iso = (date: Date | null | undefined): string | null => (date ? date.toISOString() : null);
const plus = (date: Date, ms: number): Date => new Date(date.getTime() + ms);

// --------------------------------------------------------------------------------------- feeds

export interface FeedRow {
  url: string;
  name: string;
  enabled: boolean;
  tags: readonly string[];
  terms: string | null;
}

/** An enabled feed at a unique https URL. */
export function feed(overrides: Partial<FeedRow> = {}): FeedRow {
  const url = overrides.url ?? `https://${nextUid("feed").replaceAll(":", "-")}.example/rss`;
  return { url, name: overrides.name ?? url, enabled: true, tags: [], terms: null, ...overrides };
}

const FeedIdRow = z.object({ id: z.coerce.number(), url: z.string() });

/** Inserts feeds in one statement; returns their ids in the given order. */
export async function insertFeeds(db: CommonQueryMethods, rows: readonly FeedRow[]): Promise<number[]> {
  if (rows.length === 0) return [];
  const tuples = rows.map((f) => [f.url, f.name, f.enabled, JSON.stringify(f.tags), f.terms]);
  const inserted = await db.any(sql.type(FeedIdRow)`
    INSERT INTO feeds (url, name, enabled, tags, terms)
    SELECT f.url, f.name, f.enabled, ARRAY(SELECT jsonb_array_elements_text(f.tags)), f.terms
    FROM ${sql.unnest(tuples, ["text", "text", "bool", "jsonb", "text"])} AS f(url, name, enabled, tags, terms)
    RETURNING id, url`);
  const byUrl = new Map(inserted.map((row) => [row.url, row.id]));
  return rows.map((f) => byUrl.get(f.url) as number);
}

// ---------------------------------------------------------------------------------- raw events

export interface RawEventRow {
  eventUid: string;
  title: string;
  feedId: number | null;
  summary: string | null;
  link: string | null;
  canonicalLink: string | null;
  publishedAt: Date;
  publishedEstimated: boolean;
  fetchedAt: Date;
  ingestedAt: Date;
  /** Set: the row is already classified (sortation will not claim it). Default null: queued. */
  processedAt: Date | null;
  storyId: number | null;
  /** Sortation's retry count. */
  attempts: number;
  lastError: string | null;
  /** Set (with lastError): parked after too many failures. */
  parkedAt: Date | null;
}

/** A raw headline, queued for sortation; fetched and ingested a minute after it was published. */
export function rawEvent(overrides: Partial<RawEventRow> = {}): RawEventRow {
  const publishedAt = overrides.publishedAt ?? plus(BUILDER_NOW, -30 * MINUTE_MS);
  const fetchedAt = overrides.fetchedAt ?? plus(publishedAt, MINUTE_MS);
  const eventUid = overrides.eventUid ?? nextUid("test");
  return {
    eventUid,
    title: `headline ${eventUid}`,
    feedId: null,
    summary: null,
    link: null,
    canonicalLink: null,
    publishedEstimated: false,
    ingestedAt: fetchedAt,
    processedAt: null,
    storyId: null,
    attempts: 0,
    lastError: null,
    parkedAt: null,
    ...overrides,
    publishedAt,
    fetchedAt,
  };
}

/** Inserts raw events in one statement; returns their ids in the given order. */
export async function insertRawEvents(
  db: CommonQueryMethods,
  rows: readonly RawEventRow[],
): Promise<number[]> {
  if (rows.length === 0) return [];
  const tuples = rows.map((r) => [
    r.eventUid,
    r.title,
    r.feedId,
    r.summary,
    r.link,
    r.canonicalLink,
    iso(r.publishedAt),
    r.publishedEstimated,
    iso(r.fetchedAt),
    iso(r.ingestedAt),
    iso(r.processedAt),
    r.storyId,
    r.attempts,
    r.lastError,
    iso(r.parkedAt),
  ]);
  const inserted = await db.any(sql.type(RawIdRow)`
    INSERT INTO inbound_events_raw (event_uid, title, feed_id, summary, link, canonical_link, published_at,
      published_estimated, fetched_at, ingested_at, processed_at, story_id, attempts, last_error, parked_at)
    SELECT * FROM ${sql.unnest(tuples, [
      "text",
      "text",
      "int8",
      "text",
      "text",
      "text",
      "timestamptz",
      "bool",
      "timestamptz",
      "timestamptz",
      "timestamptz",
      "int8",
      "int4",
      "text",
      "timestamptz",
    ])}
    RETURNING id, event_uid`);
  const byUid = new Map(inserted.map((row) => [row.event_uid, row.id]));
  return rows.map((r) => byUid.get(r.eventUid) as number);
}

/** Inserts a story (its founder linked later, as ingest does); returns its id. */
export async function insertStory(
  db: CommonQueryMethods,
  story: { title?: string; firstPublishedAt?: Date; createdAt?: Date; firstRawId?: number | null } = {},
): Promise<number> {
  const firstPublishedAt = story.firstPublishedAt ?? plus(BUILDER_NOW, -30 * MINUTE_MS);
  return Number(
    await db.oneFirst(sql.unsafe`
      INSERT INTO inbound_stories (first_raw_id, title, first_published_at, created_at)
      VALUES (${story.firstRawId ?? null}, ${story.title ?? "a story"}, ${sql.timestamp(firstPublishedAt)},
              ${sql.timestamp(story.createdAt ?? firstPublishedAt)})
      RETURNING id`),
  );
}

// ---------------------------------------------------------------------------------- classified

export type Label = "positive" | "negative" | "neutral";

export interface ClassifiedRow {
  rawId: number;
  label: Label;
  pPositive: number;
  pNegative: number;
  pNeutral: number;
  /** pPositive − pNegative. */
  score: number;
  classifier: "lexicon" | "finbert";
  modelId: string;
  modelRevision: string | null;
  modelDtype: string | null;
  tickers: readonly string[];
  tickerEvidence: readonly { ticker: string; via: string; text: string }[];
  publishedAt: Date;
  classifiedAt: Date;
}

/** The largest probability's label (ties: positive, then negative), as the classifiers say it. */
export function labelOf(pPositive: number, pNegative: number, pNeutral: number): Label {
  if (pPositive >= pNegative && pPositive >= pNeutral) return "positive";
  return pNegative >= pNeutral ? "negative" : "neutral";
}

/**
 * A classification of raw row `rawId`. Give `score` alone and the probabilities follow from it
 * (the score's side takes |score|, neutral the rest); give probabilities alone and the score and
 * label follow from them; give both and both are stored as given.
 */
export function classified(
  overrides: Partial<ClassifiedRow> & { rawId: number; score?: number },
): ClassifiedRow {
  const score = overrides.score ?? 0;
  const pPositive = overrides.pPositive ?? Math.max(score, 0);
  const pNegative = overrides.pNegative ?? Math.max(-score, 0);
  const pNeutral = overrides.pNeutral ?? Math.max(0, 1 - pPositive - pNegative);
  const publishedAt = overrides.publishedAt ?? plus(BUILDER_NOW, -30 * MINUTE_MS);
  return {
    classifier: "lexicon",
    modelId: "test",
    modelRevision: null,
    modelDtype: null,
    tickers: [],
    tickerEvidence: [],
    classifiedAt: plus(publishedAt, 2 * MINUTE_MS),
    ...overrides,
    label: overrides.label ?? labelOf(pPositive, pNegative, pNeutral),
    pPositive,
    pNegative,
    pNeutral,
    score: overrides.score ?? pPositive - pNegative,
    publishedAt,
  };
}

/** Inserts classifications in one statement; returns their ids in the given order. */
export async function insertClassified(
  db: CommonQueryMethods,
  rows: readonly ClassifiedRow[],
): Promise<number[]> {
  if (rows.length === 0) return [];
  const tuples = rows.map((r) => [
    r.rawId,
    r.label,
    r.pPositive,
    r.pNegative,
    r.pNeutral,
    r.score,
    r.classifier,
    r.modelId,
    r.modelRevision,
    r.modelDtype,
    JSON.stringify(r.tickers),
    JSON.stringify(r.tickerEvidence),
    iso(r.publishedAt),
    iso(r.classifiedAt),
  ]);
  const inserted = await db.any(sql.type(ClassifiedIdRow)`
    INSERT INTO inbound_events_classified (raw_id, label, p_positive, p_negative, p_neutral, score, classifier,
      model_id, model_revision, model_dtype, tickers, ticker_evidence, published_at, classified_at)
    SELECT c.raw_id, c.label, c.p_positive, c.p_negative, c.p_neutral, c.score, c.classifier, c.model_id,
           c.model_revision, c.model_dtype, ARRAY(SELECT jsonb_array_elements_text(c.tickers)),
           c.ticker_evidence, c.published_at, c.classified_at
    FROM ${sql.unnest(tuples, [
      "int8",
      "text",
      "float4",
      "float4",
      "float4",
      "float4",
      "text",
      "text",
      "text",
      "text",
      "jsonb",
      "jsonb",
      "timestamptz",
      "timestamptz",
    ])} AS c(raw_id, label, p_positive, p_negative, p_neutral, score, classifier, model_id, model_revision,
             model_dtype, tickers, ticker_evidence, published_at, classified_at)
    RETURNING id, raw_id`);
  const byRaw = new Map(inserted.map((row) => [row.raw_id, row.id]));
  return rows.map((r) => byRaw.get(r.rawId) as number);
}

export interface EventSpec {
  tickers: readonly string[];
  score: number;
  publishedAt: Date;
  raw?: Partial<RawEventRow>;
  classified?: Partial<ClassifiedRow>;
}

/**
 * Raw + classified pairs (the raw rows marked processed), two statements for any number of
 * events; returns the classified ids and their raw ids in the given order.
 */
export async function insertEvents(
  db: CommonQueryMethods,
  specs: readonly EventSpec[],
): Promise<{ ids: number[]; rawIds: number[] }> {
  const raws = specs.map((spec) => {
    const ingestedAt = spec.raw?.ingestedAt ?? plus(spec.publishedAt, MINUTE_MS);
    const classifiedAt = spec.classified?.classifiedAt ?? plus(ingestedAt, MINUTE_MS);
    return rawEvent({
      fetchedAt: ingestedAt,
      ingestedAt,
      processedAt: classifiedAt,
      ...spec.raw,
      publishedAt: spec.publishedAt,
    });
  });
  const rawIds = await insertRawEvents(db, raws);
  const ids = await insertClassified(
    db,
    specs.map((spec, i) =>
      classified({
        rawId: rawIds[i] as number,
        score: spec.score,
        tickers: spec.tickers,
        publishedAt: spec.publishedAt,
        classifiedAt: (raws[i] as RawEventRow).processedAt as Date,
        ...spec.classified,
      }),
    ),
  );
  return { ids, rawIds };
}

// ------------------------------------------------------------------------------------- candles

export interface CandleRow {
  ticker: string;
  /** The bar's start; it closes 5 minutes later. */
  ts: Date;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  source: string;
}

/**
 * Consecutive 5-minute candles for `ticker` whose closes are `closes` (default: twenty at 100),
 * the last one starting at `lastStart` (default: the bar that closes at BUILDER_NOW). Open, high
 * and low equal the close unless `bar` says otherwise.
 */
export function candles(
  ticker: string,
  options: {
    lastStart?: Date;
    closes?: readonly number[];
    volume?: number;
    source?: string;
    bar?: (close: number, index: number) => Partial<Omit<CandleRow, "ticker" | "ts">>;
  } = {},
): CandleRow[] {
  const closes = options.closes ?? Array.from({ length: 20 }, () => 100);
  const lastStart = options.lastStart ?? plus(BUILDER_NOW, -CANDLE_MS);
  return closes.map((close, i) => ({
    ticker,
    ts: plus(lastStart, -(closes.length - 1 - i) * CANDLE_MS),
    open: close,
    high: close,
    low: close,
    close,
    volume: options.volume ?? 1000,
    source: options.source ?? "test",
    ...options.bar?.(close, i),
  }));
}

/** 19 candles at `base` then a last one at `last`: SMA20 = (19·base + last) / 20. */
export function trend(base: number, last: number): number[] {
  return [...Array.from({ length: 19 }, () => base), last];
}

/** Upserts candles (a bar already stored takes the new prices) in one statement. */
export async function insertCandles(db: CommonQueryMethods, rows: readonly CandleRow[]): Promise<void> {
  if (rows.length === 0) return;
  const tuples = rows.map((c) => [c.ticker, iso(c.ts), c.open, c.high, c.low, c.close, c.volume, c.source]);
  await db.query(sql.unsafe`
    INSERT INTO lane_telemetry (ticker, ts, open, high, low, close, volume, source)
    SELECT * FROM ${sql.unnest(tuples, ["text", "timestamptz", "float8", "float8", "float8", "float8", "float8", "text"])}
    ON CONFLICT (ticker, ts) DO UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
      close = EXCLUDED.close, volume = EXCLUDED.volume, source = EXCLUDED.source`);
}

// ----------------------------------------------------------------------------- recommendations

export interface RecommendationRow {
  ticker: string;
  side: "BUY" | "SELL";
  status: "PENDING" | "EXECUTED" | "REJECTED" | "FAILED";
  asOf: Date;
  /** Default: now (the database's). */
  createdAt: Date | null;
  cooldownUntil: Date;
  ruleVersion: string;
  sentiment: number;
  eventCount: number;
  close: number;
  sma20: number;
  threshold: number;
  inputs: Record<string, unknown>;
  decidedAt: Date | null;
  rejectedGate: string | null;
}

/**
 * A PENDING recommendation made one minute before BUILDER_NOW, with a one-minute cooldown (so
 * distinct tickers or distinct as_of minutes keep clear of the cooldown EXCLUDE constraint).
 */
export function recommendation(overrides: Partial<RecommendationRow> = {}): RecommendationRow {
  const asOf = overrides.asOf ?? plus(BUILDER_NOW, -MINUTE_MS);
  const close = overrides.close ?? 100;
  return {
    ticker: "ACME",
    side: "BUY",
    status: "PENDING",
    createdAt: null,
    cooldownUntil: plus(asOf, MINUTE_MS),
    ruleVersion: "test-v1",
    sentiment: 0.6,
    eventCount: 3,
    sma20: close * 0.98,
    threshold: 0.35,
    inputs: {},
    decidedAt: null,
    rejectedGate: null,
    ...overrides,
    asOf,
    close,
  };
}

/** Inserts recommendations in one statement; returns their ids in the given order. */
export async function insertRecommendations(
  db: CommonQueryMethods,
  rows: readonly RecommendationRow[],
): Promise<number[]> {
  if (rows.length === 0) return [];
  const tuples = rows.map((r, i) => [
    i,
    r.ticker,
    r.side,
    r.status,
    iso(r.asOf),
    iso(r.createdAt),
    iso(r.cooldownUntil),
    r.ruleVersion,
    r.sentiment,
    r.eventCount,
    r.close,
    r.sma20,
    r.threshold,
    JSON.stringify(r.inputs),
    iso(r.decidedAt),
    r.rejectedGate,
  ]);
  // Identity values follow the SELECT's order, so sorting the returned ids restores the input order.
  const ids = await db.anyFirst(sql.unsafe`
    INSERT INTO dispatch_recommendations (ticker, side, status, as_of, created_at, cooldown_until, rule_version,
      sentiment, event_count, close, sma20, threshold, inputs, decided_at, rejected_gate)
    SELECT t.ticker, t.side, t.status, t.as_of, coalesce(t.created_at, now()), t.cooldown_until, t.rule_version,
           t.sentiment, t.event_count, t.close, t.sma20, t.threshold, t.inputs, t.decided_at, t.rejected_gate
    FROM ${sql.unnest(tuples, [
      "int4",
      "text",
      "text",
      "text",
      "timestamptz",
      "timestamptz",
      "timestamptz",
      "text",
      "float8",
      "int4",
      "float8",
      "float8",
      "float8",
      "jsonb",
      "timestamptz",
      "text",
    ])} AS t(ord, ticker, side, status, as_of, created_at, cooldown_until, rule_version, sentiment, event_count,
             close, sma20, threshold, inputs, decided_at, rejected_gate)
    ORDER BY t.ord
    RETURNING id`);
  return (ids as number[]).map(Number).sort((a, b) => a - b);
}
