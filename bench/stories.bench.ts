// Stories at ingest: what placing a feed's new rows in their stories adds to storing them.
//   baseline:  the bulk insert of a 200-item feed (insertItems), timed inside its transaction
//   stories:   the same insert plus assignStories (lock, candidate search, match, story rows), in
//              the same transaction and the same runs
// over a history of 20,000 rows from 7 feeds across 10 days, each in a story, of which the
// candidate search may read only those published within the window of a new row.
// Reproduce: npm run bench -- stories
import * as z from "zod";
import { sql } from "../services/common/db.ts";
import type { NormalisedItem } from "../services/inbound-dock/normalise.ts";
import { insertItems } from "../services/inbound-dock/store.ts";
import { assignStories, STORY_WINDOW_MS } from "../services/inbound-dock/stories.ts";
import { benchDatabase, type Measurement, median, report } from "./lib.ts";

const COMMAND = "npm run bench -- stories";
const HISTORY = 20_000;
const ITEMS = 200;
const NOW = new Date("2026-01-10T12:00:00Z");
const DAY_MS = 86_400_000;

const companies = [
  "Acme",
  "Beacon",
  "Northwind",
  "Helio",
  "Zenith",
  "Kestrel",
  "Borealis",
  "Quanta",
  "Lumen",
];
const events = [
  "Announces Quarterly Results",
  "Declares Dividend",
  "Names New Chief Executive",
  "Prices Offering",
];
const headline = (i: number) =>
  `${companies[i % companies.length]} ${i % 97} Holdings ${events[i % events.length]} for Period ${i % 13}`;

const database = await benchDatabase(4);
const db = database.pool;
try {
  const feeds = await db.anyFirst(sql.type(z.object({ id: z.number() }))`
    INSERT INTO feeds (url, name)
    SELECT 'https://feed' || g || '.example/rss', 'feed ' || g FROM generate_series(1, 8) g RETURNING id`);
  const newFeed = feeds[7] as number;
  // History: one story per row, rows spread over the 10 days before NOW.
  await db.query(sql.unsafe`
    WITH rows AS (
      INSERT INTO inbound_events_raw (event_uid, feed_id, title, published_at, fetched_at, ingested_at)
      SELECT 'history:' || g, (${sql.array(feeds.slice(0, 7), "int8")})[1 + g % 7],
             'History headline ' || g || ' of company ' || (g % 500),
             ${sql.timestamp(NOW)} - make_interval(secs => (g::float8 / ${HISTORY}) * ${(10 * DAY_MS) / 1000}),
             ${sql.timestamp(NOW)}, ${sql.timestamp(NOW)}
      FROM generate_series(1, ${HISTORY}) g
      RETURNING id, title, published_at)
    INSERT INTO inbound_stories (first_raw_id, title, first_published_at, created_at)
    SELECT id, title, published_at, ${sql.timestamp(NOW)} FROM rows`);
  await db.query(sql.unsafe`
    UPDATE inbound_events_raw r SET story_id = s.id FROM inbound_stories s WHERE s.first_raw_id = r.id`);
  await db.query(sql.unsafe`VACUUM ANALYZE inbound_events_raw`);
  await db.query(sql.unsafe`VACUUM ANALYZE inbound_stories`);
  const inWindow = await db.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM inbound_events_raw
    WHERE published_at >= ${sql.timestamp(new Date(NOW.getTime() - 2 * 3_600_000 - STORY_WINDOW_MS))}`);

  let run = 0;
  const batch = (): NormalisedItem[] =>
    Array.from({ length: ITEMS }, (_, i) => ({
      eventUid: `bench:${run}:${i}`,
      title: headline(i + run),
      summary: null,
      link: null,
      canonicalLink: null,
      publishedAt: new Date(NOW.getTime() - (i % 120) * 60_000),
      publishedEstimated: false,
    }));
  const clear = () =>
    db.transaction(async (tx) => {
      await tx.query(sql.unsafe`
        WITH gone AS (DELETE FROM inbound_events_raw WHERE feed_id = ${newFeed} RETURNING story_id)
        DELETE FROM inbound_stories WHERE id IN (SELECT story_id FROM gone)
          AND NOT EXISTS (SELECT 1 FROM inbound_events_raw r WHERE r.story_id = inbound_stories.id AND r.feed_id <> ${newFeed})`);
    });
  // Each run times the insert and the assignment apart, inside the one transaction that does both
  // (as storeItems does); the clean-up between runs is outside both figures.
  let founded = 0;
  const insertRuns: number[] = [];
  const totalRuns: number[] = [];
  for (let round = 0; round < 9; round += 1) {
    run += 1;
    const items = batch();
    let insertMs = 0;
    let totalMs = 0;
    await db.transaction(async (tx) => {
      const started = performance.now();
      await insertItems(tx, newFeed, items, NOW);
      insertMs = performance.now() - started;
      founded = (await assignStories(tx, { eventUids: items.map((item) => item.eventUid), now: NOW }))
        .founded;
      totalMs = performance.now() - started;
    });
    await clear();
    if (round >= 2) {
      insertRuns.push(insertMs);
      totalRuns.push(totalMs);
    }
  }
  const perSecond = (ms: number) => (ITEMS / ms) * 1_000;
  const baseline: Measurement = {
    label: "bulk insert alone",
    value: perSecond(median(insertRuns)),
    unit: "items/s",
    runs: insertRuns,
  };
  report(`stories: a ${ITEMS}-item feed over ${HISTORY} rows of history`, COMMAND, baseline, [
    {
      label: "bulk insert + assignStories",
      value: perSecond(median(totalRuns)),
      unit: "items/s",
      runs: totalRuns,
    },
  ]);
  console.log(
    `runs (ms): insert ${insertRuns.map((ms) => ms.toFixed(0)).join(", ")}; insert + stories ${totalRuns.map((ms) => ms.toFixed(0)).join(", ")}`,
  );
  console.log(
    `history rows within the window of the batch: ${inWindow} of ${HISTORY}; stories founded per batch: ${founded}`,
  );
  const plan = await db.anyFirst(sql.type(z.object({ "QUERY PLAN": z.string() }))`
    EXPLAIN SELECT DISTINCT r.id, r.story_id, r.title, r.published_at
    FROM unnest(ARRAY[${sql.timestamp(NOW)}]::timestamptz[]) AS t(published_at)
    JOIN inbound_events_raw r ON r.published_at BETWEEN t.published_at - interval '12 hours' AND t.published_at + interval '12 hours'
    WHERE r.story_id IS NOT NULL`);
  console.log(`candidate search plan:\n  ${plan.join("\n  ")}`);
} finally {
  await database.close();
}
