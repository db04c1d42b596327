import assert from "node:assert/strict";
import { render } from "ink-testing-library";
import * as z from "zod";
import { ExplanationScreen } from "../../cli/src/ui/recs-screens.tsx";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { createLogger } from "../../services/common/logger.ts";
import { runDispatchEngine } from "../../services/dispatch-engine/engine.ts";
import { selectSnapshots } from "../../services/dispatch-engine/queries.ts";
import { replay } from "../../services/dispatch-engine/replay.ts";
import { type RuleParams, type StoryMember, storyVotes } from "../../services/dispatch-engine/rule.ts";
import { explainRecommendation } from "../../services/ops/recs.ts";
import { feed as feedRow, insertFeeds } from "../helpers/builders.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { clearAll, seedCandles, seedEvent, seedStory, trend } from "./fixtures.ts";

const logger = createLogger({ level: "silent", pretty: false });
const params: RuleParams = {
  threshold: 0.35,
  minEvents: 2,
  lookbackMinutes: 120,
  cooldownMinutes: 60,
  maxCandleAgeSeconds: 900,
};
const T = new Date("2026-11-25T15:00:00Z");
const minutes = (m: number) => new Date(T.getTime() + m * 60_000);

describe("dispatch-engine: one story, one vote (pure)", () => {
  const member = (
    rawId: number,
    storyId: number | null,
    score: number,
    publishedMin: number,
  ): StoryMember => ({
    id: rawId,
    rawId,
    storyId,
    feedId: rawId,
    link: null,
    score,
    confidence: 0.8,
    publishedAt: minutes(publishedMin).getTime(),
    storyFirstPublishedAt: minutes(storyId === null ? publishedMin : -30).getTime(),
  });

  it("makes one vote of three copies of a story, with the mean score and the first publication's age", () => {
    const votes = storyVotes(
      [member(1, 7, 0.9, -30), member(2, 7, 0.6, -25), member(3, 7, 0.3, -5), member(4, null, -0.5, -10)],
      T.getTime(),
      60,
    );
    assert.equal(votes.length, 2);
    const story = votes.find((v) => v.storyId === 7);
    assert.ok(story);
    assert.deepEqual(
      story.sources.map((s) => s.rawId),
      [1, 2, 3],
    );
    assert.ok(Math.abs(story.score - 0.6) < 1e-12);
    assert.equal(story.ageMinutes, 30);
    assert.ok(Math.abs(story.weight - 0.8 * 0.5 ** (30 / 60)) < 1e-12);
  });
});

describe("dispatch-engine: one story, one vote (against the database)", () => {
  const db = useTestDatabase();
  beforeEach(() => clearAll(db.pool));

  async function syndicated(ticker: string, copies: number, firstMinute: number, ingestedAt?: Date) {
    const storyId = await seedStory(db.pool, minutes(firstMinute));
    for (let i = 0; i < copies; i += 1) {
      await seedEvent(db.pool, {
        tickers: [ticker],
        score: 0.8,
        publishedAt: minutes(firstMinute + i * 5),
        storyId,
        ...(i > 0 && ingestedAt ? { ingestedAt } : {}),
      });
    }
    return storyId;
  }

  it("does not signal on one release carried by three feeds: one story is one event for min-events", async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    await syndicated("ACME", 3, -30);
    const [snapshot] = await selectSnapshots(db.pool, { asOf: T, params });
    assert.equal(snapshot?.stories.length, 1);
    assert.equal(snapshot?.stories[0]?.sources.length, 3);
    const result = await runDispatchEngine({ db: db.pool, clock: new FakeClock(T), logger, params });
    assert.deepEqual(result.skipped, { "too-few-events": 1 });
    assert.equal(result.inserted, 0);
  });

  it("weighs a story carried three times like one carried once against other news", async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    await syndicated("ACME", 3, -30);
    await seedEvent(db.pool, { tickers: ["ACME"], score: -0.8, publishedAt: minutes(-30), pNegative: 0.8 });
    const [snapshot] = await selectSnapshots(db.pool, { asOf: T, params });
    assert.equal(snapshot?.stories.length, 2);
    // Items would give (3 × 0.8 − 0.8) / 4 = 0.4, a BUY; stories give (0.8 − 0.8) / 2 = 0.
    assert.ok(Math.abs(snapshot?.sentiment ?? 1) < 1e-9);
  });

  it("leaves out a story first published before the window, however recent its later copy", async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    const storyId = await seedStory(db.pool, minutes(-150));
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-150), storyId });
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.8, publishedAt: minutes(-10), storyId });
    assert.deepEqual(await selectSnapshots(db.pool, { asOf: T, params }), []);
  });

  it("counts a story's copies as of the tick: a copy ingested later joins the vote only from then on", async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    await syndicated("ACME", 3, -30, minutes(3));
    const before = await selectSnapshots(db.pool, { asOf: T, params });
    assert.equal(before[0]?.stories[0]?.sources.length, 1);
    const after = await selectSnapshots(db.pool, { asOf: minutes(5), params });
    assert.equal(after[0]?.stories[0]?.sources.length, 3);
  });

  it("replays stories as the live engine weighed them, tick by tick", async () => {
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    await seedCandles(db.pool, "ACME", minutes(25), trend(104, 108));
    const first = await syndicated("ACME", 3, -30, minutes(3));
    await syndicated("ACME", 2, 2, minutes(12));
    const [feed] = await insertFeeds(db.pool, [feedRow({ url: "https://sighting.example/rss", name: "S" })]);
    await db.pool.query(sql.unsafe`
      INSERT INTO inbound_story_sightings (story_id, feed_id, event_uid, link, seen_at)
      VALUES (${first}, ${feed ?? null}, 's-1', 'https://news.example/a', ${sql.timestamp(minutes(4))}),
             (${first}, ${feed ?? null}, 's-2', 'https://news.example/b', ${sql.timestamp(minutes(6))})`);
    for (let m = 0; m <= 30; m += 5) {
      await runDispatchEngine({ db: db.pool, clock: new FakeClock(minutes(m)), logger, params });
    }
    const replayed = await replay(db.pool, { from: T, to: minutes(30), params });
    const rows = await db.pool.any(
      sql.type(z.object({ as_of: z.number(), ticker: z.string(), side: z.string(), inputs: z.unknown() }))`
        SELECT as_of, ticker, side, inputs FROM dispatch_recommendations ORDER BY as_of`,
    );
    assert.ok(rows.length > 0, "the live engine made a recommendation");
    const stored = rows[0]?.inputs as { snapshot: { stories: { alsoCarriedBy: { link: string }[] }[] } };
    assert.deepEqual(
      stored.snapshot.stories.flatMap((story) => story.alsoCarriedBy.map((x) => x.link)),
      ["https://news.example/a"],
      "only the sighting seen by the tick",
    );
    assert.deepEqual(
      replayed.recommendations.map((r) => ({
        as_of: r.asOf.getTime(),
        ticker: r.ticker,
        side: r.side,
        inputs: r.inputs,
      })),
      rows.map((r) => ({ as_of: r.as_of, ticker: r.ticker, side: r.side, inputs: r.inputs })),
    );
  });
});

describe("recs show: a recommendation lists each story with all its sources", () => {
  const db = useTestDatabase();

  it("names every copy's feed, event id and link under its story, and the feeds seen with the same link, on screen and in JSON", async () => {
    const feeds = await insertFeeds(db.pool, [
      feedRow({ url: "https://wire.example/rss", name: "Wire" }),
      feedRow({ url: "https://agg.example/rss", name: "Aggregator" }),
      feedRow({ url: "https://portal.example/rss", name: "Portal" }),
    ]);
    await seedCandles(db.pool, "ACME", minutes(-5), trend(100, 104));
    const storyId = await seedStory(db.pool, minutes(-30));
    const rawIds: number[] = [];
    for (const [index, feedId] of feeds.entries()) {
      const id = await seedEvent(db.pool, {
        tickers: ["ACME"],
        score: 0.8,
        publishedAt: minutes(-30 + index),
        storyId,
      });
      const rawId = await db.pool.oneFirst(sql.type(z.object({ raw_id: z.number() }))`
        UPDATE inbound_events_raw r SET feed_id = ${feedId}, canonical_link = ${`https://news.example/acme-${index}`}
        FROM inbound_events_classified c WHERE c.id = ${id} AND r.id = c.raw_id RETURNING r.id AS raw_id`);
      rawIds.push(rawId);
    }
    await seedEvent(db.pool, { tickers: ["ACME"], score: 0.7, publishedAt: minutes(-10) });
    // A fourth feed carried the same link as the wire (stored once): a sighting, seen before the
    // tick; one seen after the tick is not known to this recommendation.
    const [fourth, fifth] = await insertFeeds(db.pool, [
      feedRow({ url: "https://fourth.example/rss", name: "Fourth" }),
      feedRow({ url: "https://fifth.example/rss", name: "Fifth" }),
    ]);
    await db.pool.query(sql.unsafe`
      INSERT INTO inbound_story_sightings (story_id, feed_id, event_uid, link, seen_at)
      VALUES (${storyId}, ${fourth ?? null}, 'sighting-1', 'https://news.example/acme-0', ${sql.timestamp(minutes(-20))}),
             (${storyId}, ${fifth ?? null}, 'sighting-2', 'https://news.example/acme-0', ${sql.timestamp(minutes(3))})`);
    const result = await runDispatchEngine({ db: db.pool, clock: new FakeClock(T), logger, params });
    assert.equal(result.inserted, 1);
    const explanation = await explainRecommendation(db.pool, result.ids[0] as number);
    assert.ok(explanation?.stories);
    assert.equal(explanation.recommendation.eventCount, 2);
    const syndicatedStory = explanation.stories.find((story) => story.storyId === storyId);
    assert.deepEqual(
      syndicatedStory?.sources.map((s) => [s.eventId, s.feed, s.link]),
      rawIds.map((id, index) => [
        id,
        ["Wire", "Aggregator", "Portal"][index],
        `https://news.example/acme-${index}`,
      ]),
    );
    assert.deepEqual(syndicatedStory?.alsoCarriedBy, [
      { feed: "Fourth", link: "https://news.example/acme-0" },
    ]);
    const { lastFrame, unmount } = render(<ExplanationScreen explanation={explanation} />);
    const frame = lastFrame() ?? "";
    unmount();
    assert.match(frame, /also Fourth https:\/\/news\.example\/acme-0 \(same link, stored once\)/);
    assert.doesNotMatch(frame, /Fifth/);
    for (const [index, id] of rawIds.entries()) {
      assert.match(
        frame,
        new RegExp(`#${id} ${["Wire", "Aggregator", "Portal"][index]} https://news\\.example/acme-${index}`),
      );
    }
  });
});
