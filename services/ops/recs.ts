import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";

/**
 * Recommendations as operators read them: lists (pending, newest, new since an id) and one
 * recommendation's explanation, built only from what it stored (invariant 6) plus the headlines
 * and candles its inputs name.
 */

export const RECOMMENDATION_STATUSES = ["PENDING", "EXECUTED", "REJECTED", "FAILED"] as const;
export type RecommendationStatus = (typeof RECOMMENDATION_STATUSES)[number];

const recommendationRow = z.object({
  id: z.number(),
  ticker: z.string(),
  side: z.enum(["BUY", "SELL"]),
  status: z.enum(RECOMMENDATION_STATUSES),
  as_of: z.number(),
  created_at: z.number(),
  rule_version: z.string(),
  sentiment: z.number(),
  event_count: z.number(),
  close: z.number(),
  sma20: z.number(),
  threshold: z.number(),
  decided_at: z.number().nullable(),
  rejected_gate: z.string().nullable(),
  error: z.string().nullable(),
  approval: z.enum(["approved", "rejected"]).nullable(),
  approval_by: z.string().nullable(),
  approval_at: z.number().nullable(),
  approval_reason: z.string().nullable(),
});

/** An operator's decision under require-approval (sql/0127): who, when, why. */
export interface RecommendationApproval {
  decision: "approved" | "rejected";
  by: string;
  at: string;
  reason: string | null;
}

export interface RecommendationSummary {
  id: number;
  ticker: string;
  side: "BUY" | "SELL";
  status: RecommendationStatus;
  asOf: string;
  createdAt: string;
  ruleVersion: string;
  sentiment: number;
  eventCount: number;
  close: number;
  sma20: number;
  threshold: number;
  decidedAt: string | null;
  rejectedGate: string | null;
  error: string | null;
  /** Null while no operator approved or rejected it (`opsctl recs approve|reject`). */
  approval: RecommendationApproval | null;
}

function toSummary(row: z.infer<typeof recommendationRow>): RecommendationSummary {
  return {
    id: row.id,
    ticker: row.ticker,
    side: row.side,
    status: row.status,
    asOf: new Date(row.as_of).toISOString(),
    createdAt: new Date(row.created_at).toISOString(),
    ruleVersion: row.rule_version,
    sentiment: row.sentiment,
    eventCount: row.event_count,
    close: row.close,
    sma20: row.sma20,
    threshold: row.threshold,
    decidedAt: row.decided_at === null ? null : new Date(row.decided_at).toISOString(),
    rejectedGate: row.rejected_gate,
    error: row.error,
    approval:
      row.approval === null || row.approval_by === null || row.approval_at === null
        ? null
        : {
            decision: row.approval,
            by: row.approval_by,
            at: new Date(row.approval_at).toISOString(),
            reason: row.approval_reason,
          },
  };
}

const columns = sql.fragment`id, ticker, side, status, as_of, created_at, rule_version, sentiment, event_count,
  close, sma20, threshold, decided_at, rejected_gate, error, approval, approval_by, approval_at, approval_reason`;

export interface ListRecommendationsQuery {
  /** Only this status (PENDING for `--pending`). */
  status?: RecommendationStatus | undefined;
  /** Only rows with a larger id (`--follow` polls with the last id it printed). */
  afterId?: number | undefined;
  /** Only this ticker (upper case). */
  ticker?: string | undefined;
  /** Only rows whose as_of is at or after this time. */
  since?: Date | undefined;
  /** Newest rows first unless `afterId` is given (then oldest first, so lines print in order). */
  limit: number;
}

export interface RecommendationList {
  recommendations: RecommendationSummary[];
  /** How many rows match the filter in all (the list may be cut at `limit`). */
  total: number;
}

/**
 * Lists recommendations. Pending lists use the partial pending index; the total is a separate
 * count so a cut list still says how many there are.
 * @throws slonik errors when the database fails.
 */
export async function listRecommendations(
  db: CommonQueryMethods,
  query: ListRecommendationsQuery,
): Promise<RecommendationList> {
  const where = sql.join(
    [
      sql.fragment`true`,
      ...(query.status ? [sql.fragment`status = ${query.status}`] : []),
      ...(query.afterId !== undefined ? [sql.fragment`id > ${query.afterId}`] : []),
      ...(query.ticker ? [sql.fragment`ticker = ${query.ticker}`] : []),
      ...(query.since ? [sql.fragment`as_of >= ${sql.timestamp(query.since)}`] : []),
    ],
    sql.fragment` AND `,
  );
  const order = query.afterId !== undefined ? sql.fragment`id ASC` : sql.fragment`id DESC`;
  const [rows, total] = await Promise.all([
    db.any(sql.type(recommendationRow)`
      SELECT ${columns} FROM dispatch_recommendations WHERE ${where} ORDER BY ${order} LIMIT ${query.limit}`),
    db.oneFirst(sql.type(z.object({ total: z.number() }))`
      SELECT count(*) AS total FROM dispatch_recommendations WHERE ${where}`),
  ]);
  return { recommendations: rows.map(toSummary), total };
}

/**
 * What `recs show` reads of the engine's `inputs` document (`StoredInputs` in
 * services/dispatch-engine/rule.ts): its parameters and the weighted stories of its snapshot
 * (rule v2; rule v1 stored weighted `events`, still read).
 * Unknown keys pass through and every part is optional: `recs show` explains what it can and
 * prints the raw JSON for the rest rather than fail.
 */
export const recommendationInputsSchema = z.looseObject({
  ruleVersion: z.string().optional(),
  params: z.record(z.string(), z.unknown()).optional(),
  snapshot: z
    .looseObject({
      events: z
        .array(
          z.looseObject({
            /** inbound_events_raw.id: the headline. */
            rawId: z.number().int(),
            score: z.number(),
            weight: z.number(),
          }),
        )
        .optional(),
      stories: z
        .array(
          z.looseObject({
            storyId: z.number().int().nullable(),
            score: z.number(),
            weight: z.number(),
            sources: z.array(
              z.looseObject({
                rawId: z.number().int(),
                feedId: z.number().int().nullable(),
                link: z.string().nullable(),
              }),
            ),
            alsoCarriedBy: z
              .array(z.looseObject({ feedId: z.number().int().nullable(), link: z.string() }))
              .optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type RecommendationInputs = z.infer<typeof recommendationInputsSchema>;

/** The dispatcher's `GateDecision[]` (services/dispatcher/gates.ts). */
const gateDecisionSchema = z.array(
  z.looseObject({
    gate: z.string(),
    passed: z.boolean(),
    reason: z.string().optional(),
    values: z.record(z.string(), z.unknown()).optional(),
  }),
);

/** How sortation found one ticker of a headline (inbound_events_classified.ticker_evidence). */
export interface TickerFound {
  ticker: string;
  /** cashtag | exchange | symbol | name */
  via: string;
  /** The text that named it. */
  text: string;
}
const tickerEvidenceSchema = z.array(z.object({ ticker: z.string(), via: z.string(), text: z.string() }));

export interface ExplainedHeadline {
  eventId: number;
  title: string | null;
  /** The tickers sortation attributed the headline to and how it found each ([] before migration 0060). */
  tickers: TickerFound[];
  /** The event's score and recency weight as the engine used them. */
  score: number;
  weight: number;
  label: string | null;
  /** Who scored it: finbert or lexicon (the lexicon may have stood in for FinBERT), and the model. */
  classifier: string | null;
  modelId: string | null;
  publishedAt: string | null;
}

/** One story that voted (rule v2), with every copy of it the engine knew: feed, event, link. */
export interface ExplainedStory {
  storyId: number | null;
  score: number;
  weight: number;
  sources: { eventId: number; feed: string | null; link: string | null; title: string | null }[];
  /** Feeds that carried the story under a link already stored from another feed (not rows). */
  alsoCarriedBy: { feed: string | null; link: string }[];
}

export interface GateDecision {
  gate: string;
  passed: boolean;
  /** Why it rejected, or else the values it looked at (JSON). */
  detail: string | null;
}

export interface RecommendationExplanation {
  recommendation: RecommendationSummary;
  /** True when `inputs` fitted the expected shape; else only `rawInputs` explains it. */
  inputsParsed: boolean;
  /** One per story (rule v2: its first copy's title) or per event (rule v1). */
  headlines: ExplainedHeadline[];
  /** The stories that voted and their sources; null for rule v1 recommendations. */
  stories?: ExplainedStory[] | null;
  thresholds: Record<string, unknown>;
  gateDecisions: GateDecision[] | null;
  rawInputs: unknown;
  rawGateDecisions: unknown;
  /** Candles around as_of with the 20-bar simple moving average of close (null before 20 bars). */
  chart: { ts: string; close: number; sma20: number | null }[];
}

const detailRow = recommendationRow.extend({ inputs: z.unknown(), gate_decisions: z.unknown() });
const headlineRow = z.object({
  id: z.number(),
  title: z.string(),
  published_at: z.number(),
  label: z.string().nullable(),
  classifier: z.string().nullable(),
  model_id: z.string().nullable(),
  ticker_evidence: z.unknown(),
  feed: z.string().nullable(),
});
const candleRow = z.object({ ts: z.number(), close: z.number() });
const feedNameRow = z.object({ id: z.number(), name: z.string() });

function parseGateDecisions(raw: unknown): GateDecision[] | null {
  if (raw === null || raw === undefined) return null;
  const parsed = gateDecisionSchema.safeParse(raw);
  if (!parsed.success) return null;
  return parsed.data.map((decision) => ({
    gate: decision.gate,
    passed: decision.passed,
    detail: decision.reason ?? (decision.values ? JSON.stringify(decision.values) : null),
  }));
}

/** Candles loaded before as_of for the chart: 20 more than shown, so the SMA starts at the left edge. */
export const CHART_BARS_BEFORE = 40;
export const CHART_BARS_AFTER = 12;

/**
 * One recommendation and everything `recs show` prints. Returns null when there is no such id.
 * @throws slonik errors when the database fails.
 */
export async function explainRecommendation(
  db: CommonQueryMethods,
  id: number,
): Promise<RecommendationExplanation | null> {
  const row = await db.maybeOne(sql.type(detailRow)`
    SELECT ${columns}, inputs, gate_decisions FROM dispatch_recommendations WHERE id = ${id}`);
  if (!row) return null;
  const parsed = recommendationInputsSchema.safeParse(row.inputs);
  const inputs = parsed.success ? parsed.data : undefined;
  const stories = inputs?.snapshot?.stories;
  // Rule v2 votes per story: the headline line is the story's first copy, with the story's weight.
  const events =
    stories?.map((story) => ({
      rawId: story.sources[0]?.rawId ?? 0,
      score: story.score,
      weight: story.weight,
    })) ??
    inputs?.snapshot?.events ??
    [];
  const ids = [
    ...events.map((event) => event.rawId),
    ...(stories ?? []).flatMap((s) => s.sources.map((x) => x.rawId)),
  ];
  const sightingFeeds = [
    ...new Set(
      (stories ?? []).flatMap((s) =>
        (s.alsoCarriedBy ?? []).flatMap((x) => (x.feedId === null ? [] : [x.feedId])),
      ),
    ),
  ];
  const [headlines, candles, feedNames] = await Promise.all([
    ids.length === 0
      ? Promise.resolve([])
      : db.any(sql.type(headlineRow)`
          SELECT r.id, r.title, r.published_at, c.label, c.classifier, c.model_id, c.ticker_evidence, f.name AS feed
          FROM inbound_events_raw r LEFT JOIN inbound_events_classified c ON c.raw_id = r.id
          LEFT JOIN feeds f ON f.id = r.feed_id
          WHERE r.id = ANY(${sql.array(ids, "int8")})`),
    db.any(sql.type(candleRow)`
      (SELECT ts, close FROM lane_telemetry WHERE ticker = ${row.ticker} AND ts <= ${sql.timestamp(new Date(row.as_of))}
       ORDER BY ts DESC LIMIT ${CHART_BARS_BEFORE + 20})
      UNION ALL
      (SELECT ts, close FROM lane_telemetry WHERE ticker = ${row.ticker} AND ts > ${sql.timestamp(new Date(row.as_of))}
       ORDER BY ts ASC LIMIT ${CHART_BARS_AFTER})
      ORDER BY ts`),
    sightingFeeds.length === 0
      ? Promise.resolve([])
      : db.any(
          sql.type(
            feedNameRow,
          )`SELECT id, name FROM feeds WHERE id = ANY(${sql.array(sightingFeeds, "int8")})`,
        ),
  ]);
  const feedName = new Map(feedNames.map((feed) => [feed.id, feed.name]));
  const byId = new Map(headlines.map((headline) => [headline.id, headline]));
  const closes = candles.map((candle) => candle.close);
  const chart = candles
    .map((candle, index) => ({
      ts: new Date(candle.ts).toISOString(),
      close: candle.close,
      sma20:
        index >= 19 ? closes.slice(index - 19, index + 1).reduce((sum, value) => sum + value, 0) / 20 : null,
    }))
    .slice(-(CHART_BARS_BEFORE + CHART_BARS_AFTER));
  const thresholds: Record<string, unknown> = { threshold: row.threshold, ...(inputs?.params ?? {}) };
  return {
    recommendation: toSummary(row),
    inputsParsed: parsed.success,
    headlines: events.map((event) => {
      const found = byId.get(event.rawId);
      return {
        eventId: event.rawId,
        title: found?.title ?? null,
        tickers: tickerEvidenceSchema.safeParse(found?.ticker_evidence).data ?? [],
        score: event.score,
        weight: event.weight,
        label: found?.label ?? null,
        classifier: found?.classifier ?? null,
        modelId: found?.model_id ?? null,
        publishedAt: found ? new Date(found.published_at).toISOString() : null,
      };
    }),
    stories:
      stories?.map((story) => ({
        storyId: story.storyId,
        score: story.score,
        weight: story.weight,
        sources: story.sources.map((source) => ({
          eventId: source.rawId,
          feed: byId.get(source.rawId)?.feed ?? null,
          link: source.link,
          title: byId.get(source.rawId)?.title ?? null,
        })),
        alsoCarriedBy: (story.alsoCarriedBy ?? []).map((sighting) => ({
          feed: sighting.feedId === null ? null : (feedName.get(sighting.feedId) ?? null),
          link: sighting.link,
        })),
      })) ?? null,
    thresholds,
    gateDecisions: parseGateDecisions(row.gate_decisions),
    rawInputs: row.inputs,
    rawGateDecisions: row.gate_decisions ?? null,
    chart,
  };
}
