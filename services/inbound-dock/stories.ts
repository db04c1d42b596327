import { distance } from "fastest-levenshtein";
import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";

/**
 * One story, one vote (ARCHITECTURE invariant 8). Raw events about the same event from different
 * feeds form one story: the same or nearly the same normalised headline, published within
 * `STORY_WINDOW_MS` of a member, from a feed the story has no member from yet. (The same
 * canonical link is one raw row already: 0010's unique index.)
 *
 * The decision is made once, at ingest, in the transaction that inserts the rows, under one
 * transaction-scoped advisory lock, so two ingest runs storing copies of one release at the same
 * time cannot found two stories: the second waits for the first's commit, and its next statement
 * sees the first's story. A story is never merged or split afterwards, so its membership as of a
 * time T is simply its members ingested by T (what replay needs).
 *
 * Similarity: titles are normalised (case, accents, punctuation, wire prefixes such as
 * "PRESS RELEASE:", a trailing source name such as "- Reuters", a listing such as
 * "(NASDAQ: ACME)"), then two tests must both pass:
 * - character level: Levenshtein distance (npm `fastest-levenshtein`) over the normalised text, at
 *   most `MAX_NORMALISED_DISTANCE` of the longer one's length, so word order and most of the text
 *   agree ("Acme sues Beta" is not "Beta sues Acme");
 * - token set: the same numbers exactly, and every other distinctive word of each title present in
 *   the other, exactly or one edit away when both are 5 letters or more ("announces"/"announced").
 *   Templated headlines of different companies ("Acme Corp reports Q3 results" / "Beta Corp
 *   reports Q3 results") are close in characters but differ in a word, so they stay apart.
 */

/** A member's publication within this of a new row's makes the member's story a candidate. */
export const STORY_WINDOW_MS = 12 * 3_600_000;
/** Levenshtein distance over the normalised headline, as a share of the longer one. */
export const MAX_NORMALISED_DISTANCE = 0.3;
/**
 * Candidate rows read per batch at most (newest first): a bound on the work when a window is
 * unusually full. At 7 feeds of a few hundred items a day, a 24-hour span holds a few thousand.
 */
export const MAX_CANDIDATES = 5_000;
/** Transaction-scoped advisory lock serialising story assignment between ingest runs. */
export const STORY_LOCK = 7_013_008;

/** A headline, normalised for comparison. */
export interface StoryKey {
  /** Normalised text: the words joined by single spaces. */
  text: string;
  /** Distinctive words (no articles, no corporate suffixes), for the token-set test. */
  words: ReadonlySet<string>;
  /** Words holding a digit: they must match exactly. */
  numbers: ReadonlySet<string>;
}

// Labels a wire or an aggregator puts before the headline: "PRESS RELEASE:", "UPDATE 2-", "BRIEF-".
const PREFIX =
  /^\s*[[(]?\s*(?:press release|news release|media release|pr newswire|prnewswire|business wire|businesswire|globe ?newswire|accesswire|newsfile|update(?:d)?(?:\s*\d+)?|brief|rpt|repeat|corrected|correction|exclusive|breaking(?: news)?|flash|alert|urgent|just in)\s*[\])]?\s*(?:[:\-–—|]+|\s(?=\s))\s*/iu;
// Outlets and wires named after the headline: "- Reuters", "| Business Wire", "(GlobeNewswire)".
const SOURCES =
  "reuters|bloomberg|business ?wire|pr ?newswire|globe ?newswire|accesswire|newsfile|marketwatch|yahoo finance|yahoo|seeking alpha|benzinga|cnbc|ap|associated press|dow jones|the wall street journal|wall street journal|wsj|financial times|ft|nasdaq|zacks|the motley fool|motley fool|investing\\.com|barron'?s|forbes|fox business|thestreet|investor'?s business daily|morningstar|tipranks|the street";
const MEDIA_WORD =
  "wire|newswire|news|press|media|times|journal|post|daily|today|review|insider|magazine|digest";
const SUFFIX = new RegExp(
  `\\s*(?:[-–—|:]\\s*(?:${SOURCES}|(?:[\\p{L}.&']+\\s+){0,3}(?:${MEDIA_WORD}))|\\((?:${SOURCES})\\))\\s*$`,
  "iu",
);
// A listing named beside the company, "(NASDAQ: ACME)", "(NYSE:ACME, TSX:ACM)": wires add it, portals drop it.
const LISTING =
  /\(\s*(?:nyse|nasdaq|amex|otc\w*|tsxv?|lse|asx|cse|nyse american|nyse arca)\s*:[^)]{1,40}\)/giu;
const WORD = /[\p{L}\p{N}]+(?:[.,]\p{N}+)*/gu;
/** Words that tell no headline from another. */
const STOPWORDS = new Set([
  "a",
  "an",
  "the",
  "of",
  "for",
  "and",
  "to",
  "in",
  "on",
  "at",
  "by",
  "with",
  "from",
  "as",
  "is",
  "its",
  "inc",
  "corp",
  "corporation",
  "co",
  "company",
  "ltd",
  "limited",
  "llc",
  "plc",
  "incorporated",
]);

/** Characters of a headline compared, at most (ingest stores at most 1,000; a row written by hand may not). */
const MAX_KEY_INPUT = 2_000;

/** Normalises a headline for comparison. Pure. */
export function storyKey(title: string): StoryKey {
  let text = title
    .slice(0, MAX_KEY_INPUT)
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "");
  text = text.replace(/[’‘`´]/g, "'").replace(LISTING, " ");
  for (let i = 0; i < 3; i += 1) {
    const stripped = text.replace(PREFIX, "").replace(SUFFIX, "");
    if (stripped === text || stripped.trim() === "") break;
    text = stripped;
  }
  const tokens = (text.toLowerCase().replace(/'s\b/g, "").match(WORD) ?? []).map((t) => t.replace(/,/g, ""));
  const words = new Set<string>();
  const numbers = new Set<string>();
  for (const token of tokens) {
    if (/\p{N}/u.test(token)) numbers.add(token);
    else if (!STOPWORDS.has(token)) words.add(token);
  }
  return { text: tokens.filter((t) => !STOPWORDS.has(t)).join(" "), words, numbers };
}

function hasNearWord(word: string, others: ReadonlySet<string>): boolean {
  if (others.has(word)) return true;
  if (word.length < 5) return false;
  for (const other of others) {
    if (other.length >= 5 && Math.abs(other.length - word.length) <= 1 && distance(word, other) <= 1)
      return true;
  }
  return false;
}

/**
 * The normalised Levenshtein distance of two keys when they name the same event, else null.
 * Pure; symmetric.
 */
export function headlineDistance(a: StoryKey, b: StoryKey): number | null {
  if (a.text.length === 0 || b.text.length === 0) return null;
  if (a.text === b.text) return 0;
  // Too little text to tell a small edit from other news ("Trading halt", "8-K"): exact only.
  if (a.words.size + a.numbers.size < 3 || b.words.size + b.numbers.size < 3) return null;
  const longer = Math.max(a.text.length, b.text.length);
  if (Math.abs(a.text.length - b.text.length) > longer * MAX_NORMALISED_DISTANCE) return null;
  if (a.numbers.size !== b.numbers.size) return null;
  for (const n of a.numbers) if (!b.numbers.has(n)) return null;
  for (const word of a.words) if (!hasNearWord(word, b.words)) return null;
  for (const word of b.words) if (!hasNearWord(word, a.words)) return null;
  const d = distance(a.text, b.text) / longer;
  return d <= MAX_NORMALISED_DISTANCE ? d : null;
}

/** A row already in a story, as the candidate search returns it. */
export interface StoryCandidate {
  storyId: number;
  key: StoryKey;
  publishedAt: number;
}

/** A new row to place. */
export interface NewMember {
  rawId: number;
  feedId: number | null;
  key: StoryKey;
  publishedAt: number;
}

/**
 * Places new rows (in order) into candidate stories or new ones. A row joins the closest matching
 * candidate (ties: the oldest story) published within the window, from a story that has no member
 * of the row's feed yet; else it founds a story, which later rows of the batch may join.
 * `storyFeeds` holds each candidate story's feeds and is updated as rows join. New stories get
 * negative placeholder ids here (−1 − index of the founding row) so that later rows can join them.
 * Pure apart from updating `storyFeeds` and `candidates`.
 */
export function placeMembers(
  members: readonly NewMember[],
  candidates: StoryCandidate[],
  storyFeeds: Map<number, Set<number | null>>,
): { rawId: number; storyId: number }[] {
  // Every member against every candidate: headlineDistance rejects most pairs on length or
  // numbers before any edit distance, and measured faster here than an inverted index on words
  // (7-20 ms against 30-67 ms for 200 members × 1,166 candidates), whose allocations cost more
  // than the comparisons they save. MAX_CANDIDATES bounds the product.
  const placed: { rawId: number; storyId: number }[] = [];
  members.forEach((member, memberIndex) => {
    let best: { storyId: number; d: number } | null = null;
    for (const candidate of candidates) {
      if (Math.abs(candidate.publishedAt - member.publishedAt) > STORY_WINDOW_MS) continue;
      if (storyFeeds.get(candidate.storyId)?.has(member.feedId)) continue;
      const d = headlineDistance(member.key, candidate.key);
      if (d === null) continue;
      if (!best || d < best.d || (d === best.d && rankOf(candidate.storyId) < rankOf(best.storyId))) {
        best = { storyId: candidate.storyId, d };
      }
    }
    const storyId = best ? best.storyId : -1 - memberIndex;
    placed.push({ rawId: member.rawId, storyId });
    const feeds = storyFeeds.get(storyId) ?? new Set<number | null>();
    feeds.add(member.feedId);
    storyFeeds.set(storyId, feeds);
    candidates.push({ storyId, key: member.key, publishedAt: member.publishedAt });
  });
  return placed;
}

/** The candidate stories that at least one member matches by headline and time. Pure. */
export function matchingStories(
  members: readonly NewMember[],
  candidates: readonly StoryCandidate[],
): number[] {
  const matched = new Set<number>();
  for (const candidate of candidates) {
    if (matched.has(candidate.storyId)) continue;
    for (const member of members) {
      if (Math.abs(candidate.publishedAt - member.publishedAt) > STORY_WINDOW_MS) continue;
      if (headlineDistance(member.key, candidate.key) !== null) {
        matched.add(candidate.storyId);
        break;
      }
    }
  }
  return [...matched];
}

/**
 * The time ranges to search for candidates: each new row's window, overlapping ones merged, so
 * that a batch of rows published close together is one index range scan, not one per row. Pure.
 */
export function candidateRanges(
  times: readonly number[],
  windowMs = STORY_WINDOW_MS,
): { lo: number; hi: number }[] {
  const sorted = [...times].sort((a, b) => a - b);
  const ranges: { lo: number; hi: number }[] = [];
  for (const time of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && time - windowMs <= last.hi) last.hi = Math.max(last.hi, time + windowMs);
    else ranges.push({ lo: time - windowMs, hi: time + windowMs });
  }
  return ranges;
}

/** Existing stories (positive ids) rank before placeholders, older before newer. */
function rankOf(storyId: number): number {
  return storyId > 0 ? storyId : 2 ** 52 - storyId;
}

/**
 * Groups items in memory with the same rule ingest applies (the evaluation and tests use it):
 * items in order of arrival, each placed against everything before it. Returns a story index per
 * item.
 */
export function groupInMemory(
  items: readonly { feedId: number | null; title: string; publishedAt: number }[],
): number[] {
  const candidates: StoryCandidate[] = [];
  const storyFeeds = new Map<number, Set<number | null>>();
  const placed = placeMembers(
    items.map((item, index) => ({
      rawId: index,
      feedId: item.feedId,
      key: storyKey(item.title),
      publishedAt: item.publishedAt,
    })),
    candidates,
    storyFeeds,
  );
  return placed.map((p) => p.storyId);
}

const newRow = z.object({
  id: z.number(),
  feed_id: z.number().nullable(),
  title: z.string(),
  published_at: z.number(),
});
const candidateRow = z.object({
  id: z.number(),
  story_id: z.number(),
  title: z.string(),
  published_at: z.number(),
});
const storyFeedsRow = z.object({ story_id: z.number(), feed_ids: z.array(z.number().nullable()) });
const foundedRow = z.object({ id: z.number(), first_raw_id: z.number() });

/**
 * Gives every row among `eventUids` that has no story yet its story: an existing one it matches,
 * or a new one. Call it inside the transaction that inserted the rows (storeItems does), so a
 * row is never visible without its story. Takes the stories advisory lock until that transaction
 * ends. The candidate search is bounded: rows published within the window of a new row (through
 * the published_at index), at most MAX_CANDIDATES of them.
 * Returns how many stories were founded.
 * @throws slonik errors when the database fails.
 */
export async function assignStories(
  tx: CommonQueryMethods,
  rows: { eventUids: readonly string[]; now: Date },
): Promise<{ assigned: number; founded: number }> {
  if (rows.eventUids.length === 0) return { assigned: 0, founded: 0 };
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(${STORY_LOCK})`);
  const fresh = await tx.any(sql.type(newRow)`
    SELECT id, feed_id, title, published_at FROM inbound_events_raw
    WHERE event_uid = ANY(${sql.array(rows.eventUids, "text")}) AND story_id IS NULL
    ORDER BY id`);
  if (fresh.length === 0) return { assigned: 0, founded: 0 };
  const ranges = candidateRanges(fresh.map((row) => row.published_at));
  const found = await tx.any(sql.type(candidateRow)`
    SELECT r.id, r.story_id, r.title, r.published_at
    FROM unnest(
      ${sql.array(
        ranges.map((range) => new Date(range.lo).toISOString()),
        "timestamptz",
      )}::timestamptz[],
      ${sql.array(
        ranges.map((range) => new Date(range.hi).toISOString()),
        "timestamptz",
      )}::timestamptz[]
    ) AS w(lo, hi)
    JOIN inbound_events_raw r ON r.published_at BETWEEN w.lo AND w.hi
    WHERE r.story_id IS NOT NULL
    ORDER BY r.published_at DESC, r.id DESC
    LIMIT ${MAX_CANDIDATES}`);
  const candidates: StoryCandidate[] = found.map((row) => ({
    storyId: row.story_id,
    key: storyKey(row.title),
    publishedAt: row.published_at,
  }));
  const members = fresh.map((row) => ({
    rawId: row.id,
    feedId: row.feed_id,
    key: storyKey(row.title),
    publishedAt: row.published_at,
  }));
  // Only stories some new row matches need their feeds (a few, against thousands of candidates).
  const storyIds = matchingStories(members, candidates);
  const feeds =
    storyIds.length === 0
      ? []
      : await tx.any(sql.type(storyFeedsRow)`
          SELECT story_id, array_agg(DISTINCT feed_id) AS feed_ids FROM inbound_events_raw
          WHERE story_id = ANY(${sql.array(storyIds, "int8")}) GROUP BY story_id`);
  const storyFeeds = new Map(feeds.map((row) => [row.story_id, new Set(row.feed_ids)]));
  const placed = placeMembers(members, candidates, storyFeeds);
  const founders = fresh.filter((_, index) => placed[index]?.storyId === -1 - index);
  const founded =
    founders.length === 0
      ? []
      : await tx.any(sql.type(foundedRow)`
          INSERT INTO inbound_stories (first_raw_id, title, first_published_at, created_at)
          SELECT id, title, published_at, ${sql.timestamp(rows.now)} FROM ${sql.unnest(
            founders.map((row) => [row.id, row.title, new Date(row.published_at).toISOString()]),
            ["int8", "text", "timestamptz"],
          )} AS f(id, title, published_at)
          RETURNING id, first_raw_id`);
  const storyOfFounder = new Map(founded.map((row) => [row.first_raw_id, row.id]));
  const resolved = placed.map((p) => {
    if (p.storyId > 0) return [p.rawId, p.storyId];
    const founder = fresh[-1 - p.storyId];
    const storyId = founder ? storyOfFounder.get(founder.id) : undefined;
    if (storyId === undefined) throw new Error(`story of row ${p.rawId} was not founded`);
    return [p.rawId, storyId];
  });
  await tx.query(sql.unsafe`
    UPDATE inbound_events_raw r SET story_id = u.story_id
    FROM ${sql.unnest(resolved, ["int8", "int8"])} AS u(id, story_id)
    WHERE r.id = u.id`);
  return { assigned: resolved.length, founded: founded.length };
}

const sightingRow = z.object({ id: z.number() });

/**
 * Records the items of a feed that are copies of a story stored from another feed under the same
 * canonical link (0010's unique index kept them out of inbound_events_raw), so that the story's
 * sources name that feed too (sql/0068). Idempotent: one sighting per item's event_uid. Call it in
 * the transaction that stored the feed's items, after assignStories. Returns how many were new.
 * @throws slonik errors when the database fails.
 */
export async function recordSightings(
  tx: CommonQueryMethods,
  rows: {
    feedId: number | null;
    items: readonly { eventUid: string; canonicalLink: string | null }[];
    now: Date;
  },
): Promise<number> {
  const linked = rows.items.filter((item) => item.canonicalLink !== null);
  if (linked.length === 0) return 0;
  const inserted = await tx.any(sql.type(sightingRow)`
    INSERT INTO inbound_story_sightings (story_id, feed_id, event_uid, link, seen_at)
    SELECT r.story_id, ${rows.feedId}::bigint, i.event_uid, i.link, ${sql.timestamp(rows.now)}
    FROM ${sql.unnest(
      linked.map((item) => [item.eventUid, item.canonicalLink]),
      ["text", "text"],
    )} AS i(event_uid, link)
    JOIN inbound_events_raw r ON r.canonical_link = i.link
    WHERE r.story_id IS NOT NULL AND r.event_uid <> i.event_uid
      AND r.feed_id IS DISTINCT FROM ${rows.feedId}::bigint
    ON CONFLICT (event_uid) DO NOTHING
    RETURNING id`);
  return inserted.length;
}
