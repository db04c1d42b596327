// Inbound dock: parse + normalise + store a 1,000-item feed.
//   bulk:      one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING per feed (what ingest does)
//   baseline:  one INSERT ... VALUES (...) ON CONFLICT DO NOTHING per item, in one transaction
// and a re-ingest of the same feed (every item a duplicate): rows written and time.
// Reproduce: npm run bench -- inbound-dock
import * as z from "zod";
import { sql } from "../services/common/db.ts";
import { decodeFeedBody } from "../services/inbound-dock/decode.ts";
import { type NormalisedItem, normaliseItems } from "../services/inbound-dock/normalise.ts";
import { parseFeedText } from "../services/inbound-dock/parse.ts";
import { insertItems } from "../services/inbound-dock/store.ts";
import { benchDatabase, type Measurement, report, timeIt } from "./lib.ts";

const COMMAND = "npm run bench -- inbound-dock";
const ITEMS = 1_000;
const FETCHED = new Date("2026-01-05T12:00:00Z");

/** A realistic wire feed: HTML in descriptions, entities, tracking parameters, RFC 822 dates. */
function feedXml(run: number): Buffer {
  const items: string[] = [];
  for (let i = 0; i < ITEMS; i++) {
    const minute = String(i % 60).padStart(2, "0");
    items.push(`<item>
  <title>Company ${i} &amp; Partners report Q${(i % 4) + 1} results, raise guidance (run ${run})</title>
  <link>https://wire.example/news/${run}/${i}?utm_source=rss&amp;utm_medium=feed&amp;id=${i}</link>
  <guid isPermaLink="false">wire-${run}-${i}</guid>
  <pubDate>Mon, 05 Jan 2026 ${String(8 + (i % 3)).padStart(2, "0")}:${minute}:00 GMT</pubDate>
  <description><![CDATA[<p>NEW YORK, Jan. 5, 2026 /PRNewswire/ -- <b>Company ${i}</b> today announced results for the quarter&nbsp;&mdash; revenue rose ${i % 17}% year over year.</p>]]></description>
</item>`);
  }
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>Bench wire</title><link>https://wire.example/</link>\n${items.join("\n")}\n</channel></rss>`,
  );
}

async function parseAndNormalise(body: Buffer): Promise<NormalisedItem[]> {
  const decoded = decodeFeedBody(body, { contentType: "application/rss+xml; charset=utf-8" });
  const parsed = await parseFeedText(decoded.text);
  const { items } = normaliseItems(parsed.items, {
    feedUrl: "https://wire.example/rss",
    feedLink: parsed.link,
    fetchedAt: FETCHED,
  });
  if (items.length !== ITEMS) throw new Error(`expected ${ITEMS} items, normalised ${items.length}`);
  return items;
}

const database = await benchDatabase(4);
const db = database.pool;
try {
  const feedId = await db.oneFirst(sql.type(z.object({ id: z.number() }))`
    INSERT INTO feeds (url, name) VALUES ('https://wire.example/rss', 'bench') RETURNING id`);
  const clear = () => db.query(sql.unsafe`TRUNCATE inbound_events_raw CASCADE`);

  // Parse + normalise alone, for scale.
  const body = feedXml(0);
  const parseOnly = await timeIt(() => parseAndNormalise(body).then(() => undefined), {
    warmup: 2,
    repeat: 7,
  });

  // Baseline: one INSERT per item (same columns, same ON CONFLICT), in one transaction.
  let run = 0;
  const perItem = await timeIt(
    async () => {
      await clear();
      const items = await parseAndNormalise(feedXml(++run));
      await db.transaction(async (tx) => {
        for (const item of items) {
          await tx.query(sql.unsafe`
            INSERT INTO inbound_events_raw
              (event_uid, feed_id, title, summary, link, canonical_link, published_at, published_estimated, fetched_at)
            VALUES (${item.eventUid}, ${feedId}, ${item.title}, ${item.summary}, ${item.link}, ${item.canonicalLink},
                    ${sql.timestamp(item.publishedAt)}, ${item.publishedEstimated}, ${sql.timestamp(FETCHED)})
            ON CONFLICT DO NOTHING`);
        }
      });
    },
    { warmup: 3, repeat: 7 },
  );

  // Bulk: what ingest does, one statement for the feed.
  const bulk = await timeIt(
    async () => {
      await clear();
      const items = await parseAndNormalise(feedXml(++run));
      const inserted = await insertItems(db, feedId, items, FETCHED);
      if (inserted !== ITEMS) throw new Error(`bulk inserted ${inserted}`);
    },
    { warmup: 3, repeat: 7 },
  );

  // The store step alone, items parsed beforehand: the database's share of the difference.
  const prepared = await parseAndNormalise(feedXml(500_000));
  const storePerItem = await timeIt(
    async () => {
      await clear();
      await db.transaction(async (tx) => {
        for (const item of prepared) {
          await tx.query(sql.unsafe`
            INSERT INTO inbound_events_raw
              (event_uid, feed_id, title, summary, link, canonical_link, published_at, published_estimated, fetched_at)
            VALUES (${item.eventUid}, ${feedId}, ${item.title}, ${item.summary}, ${item.link}, ${item.canonicalLink},
                    ${sql.timestamp(item.publishedAt)}, ${item.publishedEstimated}, ${sql.timestamp(FETCHED)})
            ON CONFLICT DO NOTHING`);
        }
      });
    },
    { warmup: 3, repeat: 7 },
  );
  const storeBulk = await timeIt(
    async () => {
      await clear();
      await insertItems(db, feedId, prepared, FETCHED);
    },
    { warmup: 3, repeat: 7 },
  );

  // Re-ingest of the same feed: every item is a duplicate.
  await clear();
  const same = feedXml(999_999);
  await insertItems(db, feedId, await parseAndNormalise(same), FETCHED);
  let rowsWritten = -1;
  const reingest = await timeIt(
    async () => {
      rowsWritten = await insertItems(db, feedId, await parseAndNormalise(same), FETCHED);
    },
    { warmup: 3, repeat: 7 },
  );
  const total = await db.oneFirst(
    sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM inbound_events_raw`,
  );

  const itemsPerSecond = (ms: number) => (ITEMS / ms) * 1_000;
  const baseline: Measurement = {
    label: "per-item INSERT (parse+normalise+store)",
    value: itemsPerSecond(perItem.medianMs),
    unit: "items/s",
    runs: perItem.runs,
  };
  report("inbound-dock: parse + normalise + store a 1,000-item feed", COMMAND, baseline, [
    {
      label: "bulk unnest INSERT (parse+normalise+store)",
      value: itemsPerSecond(bulk.medianMs),
      unit: "items/s",
      runs: bulk.runs,
    },
    {
      label: "parse+normalise only (no database)",
      value: itemsPerSecond(parseOnly.medianMs),
      unit: "items/s",
      runs: parseOnly.runs,
    },
    {
      label: "re-ingest, all duplicates (bulk)",
      value: itemsPerSecond(reingest.medianMs),
      unit: "items/s",
      runs: reingest.runs,
    },
  ]);
  report(
    "inbound-dock: the store step alone (1,000 normalised items)",
    COMMAND,
    {
      label: "per-item INSERT",
      value: itemsPerSecond(storePerItem.medianMs),
      unit: "items/s",
      runs: storePerItem.runs,
    },
    [
      {
        label: "bulk unnest INSERT",
        value: itemsPerSecond(storeBulk.medianMs),
        unit: "items/s",
        runs: storeBulk.runs,
      },
    ],
  );
  console.log(
    `  medians: per-item ${perItem.medianMs.toFixed(1)} ms, bulk ${bulk.medianMs.toFixed(1)} ms, ` +
      `parse+normalise ${parseOnly.medianMs.toFixed(1)} ms, re-ingest ${reingest.medianMs.toFixed(1)} ms`,
  );
  console.log(
    `  re-ingest of the same 1,000-item feed: ${rowsWritten} rows written; table holds ${total} rows`,
  );
  if (rowsWritten !== 0 || total !== ITEMS) throw new Error("re-ingest wrote rows: idempotency broken");
} finally {
  await database.close();
}
