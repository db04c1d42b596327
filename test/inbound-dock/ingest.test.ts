import assert from "node:assert/strict";
import pg from "pg";
import * as z from "zod";
import { INBOUND_EVENTS_CHANNEL } from "../../services/common/channels.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { sql } from "../../services/common/db.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { envSecrets } from "../../services/common/secrets.ts";
import { runIngest } from "../../services/inbound-dock/ingest.ts";
import { inboundDockStage } from "../../services/inbound-dock/stage.ts";
import { loadStages } from "../../services/registry.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  disableAllFeeds,
  feedState,
  insertFeed,
  quietLogger,
  rawCount,
  rss,
  serve,
  startServer,
  TEST_INGEST,
  type TestServer,
} from "./helpers.ts";

const ITEMS = [
  {
    title: "Acme beats estimates",
    link: "https://news.example/acme?utm_source=rss",
    guid: "https://news.example/acme",
    pubDate: "Mon, 05 Jan 2026 09:00:00 GMT",
  },
  {
    title: "Globex cuts guidance",
    link: "https://news.example/globex",
    guid: "globex-1",
    pubDate: "2026-01-05T10:00:00Z",
  },
  {
    title: "Initech &amp; Hooli merge",
    link: "https://news.example/initech",
    pubDate: "Mon, 05 Jan 2026 11:00:00 EST",
  },
];

const rawRow = z.object({
  title: z.string(),
  canonical_link: z.string().nullable(),
  published_at: z.number(),
  published_estimated: z.boolean(),
  feed_id: z.number().nullable(),
});

describe("inbound-dock ingest", () => {
  const db = useTestDatabase({ role: STAGE_ROLES["inbound-dock"] });
  let server: TestServer;
  let clock: FakeClock;
  const run = () => runIngest({ db: db.stagePool, clock, logger: quietLogger, options: TEST_INGEST });
  /** Moves time past every feed's next fetch so the next run fetches them all again. */
  const nextMinute = () => clock.advance(TEST_INGEST.feedIntervalMs + 1_000);

  before(async () => {
    server = await startServer();
    clock = new FakeClock("2026-01-05T12:00:00Z");
    await disableAllFeeds(db.pool);
  });
  after(async () => {
    await server.close();
  });
  beforeEach(async () => {
    // Each test starts with no feeds of its own (seeded ones stay disabled).
    await db.pool.query(sql.unsafe`DELETE FROM feeds WHERE url LIKE 'http://127.0.0.1:%'`);
    await db.pool.query(sql.unsafe`DELETE FROM inbound_events_raw`);
  });

  it("stores a feed's items once, then a 304 with validators writes only feed_state", async () => {
    let fetches = 0;
    server.routes.set("/cond", (req, res) => {
      fetches += 1;
      if (req.headers["if-none-match"] === '"abc"') {
        res.writeHead(304).end();
        return;
      }
      res.writeHead(200, {
        "content-type": "application/rss+xml",
        etag: '"abc"',
        "last-modified": "Mon, 05 Jan 2026 11:59:00 GMT",
      });
      res.end(rss(ITEMS));
    });
    const feedId = await insertFeed(db.pool, `${server.base}/cond`);
    const first = await run();
    assert.equal(first.itemsNew, 3);
    const afterFirst = await feedState(db.pool, feedId);
    assert.equal(afterFirst.etag, '"abc"');
    assert.equal(afterFirst.last_modified, "Mon, 05 Jan 2026 11:59:00 GMT");
    assert.equal(afterFirst.items_new_last, 3);

    nextMinute();
    const second = await run();
    assert.equal(second.notModified, 1);
    assert.equal(fetches, 2);
    assert.equal(await rawCount(db.pool, feedId), 3, "a 304 adds no row");
    const afterSecond = await feedState(db.pool, feedId);
    assert.equal(afterSecond.last_status, 304);
    assert.equal(afterSecond.items_new_last, 0);
    assert.equal(afterSecond.etag, '"abc"', "validators kept for the next conditional GET");
    // Its schedule, not the end of the fetch: the slot it was due at plus the interval.
    assert.equal(afterSecond.next_fetch_at, afterFirst.next_fetch_at + TEST_INGEST.feedIntervalMs);
  });

  it("re-running ingest over the same feeds adds nothing", async () => {
    server.routes.set("/same", serve(rss(ITEMS)));
    const feedId = await insertFeed(db.pool, `${server.base}/same`);
    assert.equal((await run()).itemsNew, 3);
    for (let i = 0; i < 3; i++) {
      nextMinute();
      const again = await run();
      assert.equal(again.feeds, 1);
      assert.equal(again.itemsNew, 0);
    }
    assert.equal(await rawCount(db.pool, feedId), 3);
    const state = await feedState(db.pool, feedId);
    assert.equal(state.items_seen_last, 3);
    assert.equal(state.items_new_last, 0);
  });

  it("stores a duplicated guid inside one feed once, and one article reached through two feeds once", async () => {
    const dupes = rss([
      { title: "Acme beats estimates", link: "https://news.example/acme", guid: "g-1" },
      { title: "Acme beats estimates (updated)", link: "https://news.example/acme-2", guid: "g-1" },
    ]);
    server.routes.set("/dupes", serve(dupes));
    // The same article as /dupes' first item, under another guid and with tracking parameters.
    server.routes.set(
      "/other",
      serve(
        rss([
          {
            title: "Acme beats estimates",
            link: "https://NEWS.example/acme?utm_campaign=x&fbclid=y#top",
            guid: "wire-77",
          },
        ]),
      ),
    );
    const a = await insertFeed(db.pool, `${server.base}/dupes`);
    await run();
    const b = await insertFeed(db.pool, `${server.base}/other`);
    await run();
    assert.equal(await rawCount(db.pool, a), 1);
    assert.equal(await rawCount(db.pool, b), 0, "the second feed's copy of the article is not stored again");
  });

  it("keeps items whose feed links every item to the same page", async () => {
    server.routes.set(
      "/halts",
      serve(
        rss([
          { title: "Halt: ACME", link: "https://halts.example/list", guid: "h-1" },
          { title: "Halt: GLOBEX", link: "https://halts.example/list", guid: "h-2" },
        ]),
      ),
    );
    const feedId = await insertFeed(db.pool, `${server.base}/halts`);
    await run();
    assert.equal(await rawCount(db.pool, feedId), 2);
  });

  it("normalises titles, links and dates, and flags an estimated date", async () => {
    server.routes.set(
      "/norm",
      serve(
        rss([
          {
            title: "<![CDATA[<b>Hooli</b> &amp; Pied&nbsp;Piper  soar ]]>",
            link: "https://n.example/a?b=2&amp;utm_medium=rss&amp;a=1",
            pubDate: "Mon, 05 Jan 26 08:30:00 +0000",
          },
          { title: "No date here", link: "https://n.example/b" },
          { title: "From the future", link: "https://n.example/c", pubDate: "2031-01-01T00:00:00Z" },
        ]),
      ),
    );
    const feedId = await insertFeed(db.pool, `${server.base}/norm`);
    await run();
    const rows = await db.pool.any(sql.type(rawRow)`
      SELECT title, canonical_link, published_at, published_estimated, feed_id FROM inbound_events_raw
      WHERE feed_id = ${feedId} ORDER BY canonical_link`);
    assert.deepEqual(
      rows.map((r) => [r.title, r.canonical_link, r.published_estimated]),
      [
        ["Hooli & Pied Piper soar", "https://n.example/a?a=1&b=2", false],
        ["No date here", "https://n.example/b", true],
        ["From the future", "https://n.example/c", true],
      ],
    );
    assert.equal(rows[0]?.published_at, Date.parse("2026-01-05T08:30:00Z"));
    assert.equal(rows[1]?.published_at, clock.now().getTime(), "a missing date becomes the fetch time");
  });

  it("records 500s, timeouts, HTML pages and non-feeds in feed_state with backoff, and still stores the good feed", async () => {
    server.routes.set("/good", serve(rss(ITEMS)));
    server.routes.set("/err500", serve("down", "text/plain", 500));
    server.routes.set("/hang", () => undefined);
    server.routes.set(
      "/html",
      serve("<!doctype html><html><head><title>Hi</title></head><body>x</body></html>", "text/html"),
    );
    server.routes.set("/json", serve('{"items": []}', "application/json"));
    server.routes.set("/huge", serve(Buffer.alloc(TEST_INGEST.fetch.maxBytes * 2, 0x20)));
    const bad = {
      err500: await insertFeed(db.pool, `${server.base}/err500`),
      hang: await insertFeed(db.pool, `${server.base}/hang`),
      html: await insertFeed(db.pool, `${server.base}/html`),
      json: await insertFeed(db.pool, `${server.base}/json`),
      huge: await insertFeed(db.pool, `${server.base}/huge`),
    };
    const good = await insertFeed(db.pool, `${server.base}/good`);
    const summary = await run();
    assert.equal(summary.failed, 5);
    assert.equal(await rawCount(db.pool, good), 3, "one broken feed never stops the others");
    const expected: Record<keyof typeof bad, RegExp> = {
      err500: /HTTP 500/,
      hang: /timeout|no response headers/i,
      html: /HTML page/,
      json: /no rss, feed or rdf:RDF/,
      huge: /exceeds the cap/,
    };
    for (const [name, id] of Object.entries(bad) as [keyof typeof bad, number][]) {
      const state = await feedState(db.pool, id);
      assert.match(state.last_error ?? "", expected[name], name);
      assert.equal(state.consecutive_failures, 1, name);
      assert.equal(
        state.next_fetch_at,
        clock.now().getTime() + TEST_INGEST.backoffBaseMs,
        `${name}: first backoff`,
      );
    }
    // Due again after the first backoff; a second failure doubles it.
    clock.advance(TEST_INGEST.backoffBaseMs);
    await run();
    const twice = await feedState(db.pool, bad.err500);
    assert.equal(twice.consecutive_failures, 2);
    assert.equal(twice.last_status, 500);
    assert.equal(twice.next_fetch_at, clock.now().getTime() + 2 * TEST_INGEST.backoffBaseMs);
    // Recovery resets the count.
    server.routes.set("/err500", serve(rss([{ title: "back", link: "https://n.example/back" }])));
    clock.advance(2 * TEST_INGEST.backoffBaseMs);
    await run();
    assert.equal((await feedState(db.pool, bad.err500)).consecutive_failures, 0);
  });

  it("treats XXE and entity-expansion documents as harmless text", async () => {
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>Leak &xxe; here</title><link>https://x.example/1</link></item></channel></rss>`;
    const lols = Array.from(
      { length: 9 },
      (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`,
    ).join("\n");
    const laughs = `<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol0 "lol">
${lols}]>
<rss version="2.0"><channel><title>t</title><item><title>Laugh &lol9;</title><link>https://x.example/2</link></item></channel></rss>`;
    server.routes.set("/xxe", serve(xxe));
    server.routes.set("/laughs", serve(laughs));
    const a = await insertFeed(db.pool, `${server.base}/xxe`);
    const b = await insertFeed(db.pool, `${server.base}/laughs`);
    await run();
    const titles = await db.pool.anyFirst(sql.type(z.object({ title: z.string() }))`
      SELECT title FROM inbound_events_raw WHERE feed_id IN (${a}, ${b}) ORDER BY title`);
    assert.deepEqual(titles, ["Laugh &lol9;", "Leak &xxe; here"]);
  });

  it(`notifies ${INBOUND_EVENTS_CHANNEL} when new items are stored, and not when nothing is new`, async () => {
    server.routes.set("/notify", serve(rss(ITEMS)));
    const feedId = await insertFeed(db.pool, `${server.base}/notify`);
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const payloads: string[] = [];
    listener.on("notification", (message) => payloads.push(message.payload ?? ""));
    await listener.query(`LISTEN ${INBOUND_EVENTS_CHANNEL}`);
    try {
      await run();
      nextMinute();
      await run();
      await listener.query("SELECT 1"); // a round trip, so any pending notification has arrived
      assert.deepEqual(
        payloads.map((p) => JSON.parse(p)),
        [{ feedId, inserted: 3 }],
      );
    } finally {
      await listener.end();
    }
  });

  it("skips paused feeds", async () => {
    server.routes.set("/paused", serve(rss(ITEMS)));
    const feedId = await insertFeed(db.pool, `${server.base}/paused`);
    await db.pool.query(sql.unsafe`UPDATE feeds SET enabled = false WHERE id = ${feedId}`);
    const summary = await run();
    assert.equal(summary.feeds, 0);
    assert.equal(await rawCount(db.pool, feedId), 0);
  });

  it("fetches only feeds carrying one of OPS_INBOUND_FEED_TAGS when it is set", async () => {
    server.routes.set("/tagged", serve(rss(ITEMS)));
    server.routes.set(
      "/untagged",
      serve(rss([{ title: "Umbrella recalls", link: "https://news.example/umbrella", guid: "umbrella-1" }])),
    );
    const tagged = await insertFeed(db.pool, `${server.base}/tagged`);
    const untagged = await insertFeed(db.pool, `${server.base}/untagged`);
    await db.pool.query(sql.unsafe`UPDATE feeds SET tags = '{sec,demo}' WHERE id = ${tagged}`);
    const feedTags = loadConfig({ OPS_INBOUND_FEED_TAGS: "demo,other" }).inbound.feedTags;
    assert.deepEqual(feedTags, ["demo", "other"]);
    const summary = await runIngest({
      db: db.stagePool,
      clock,
      logger: quietLogger,
      options: { ...TEST_INGEST, feedTags },
    });
    assert.equal(summary.feeds, 1);
    assert.equal(await rawCount(db.pool, tagged), 3);
    assert.equal(await rawCount(db.pool, untagged), 0);
    // Unset, every enabled feed is due again.
    nextMinute();
    assert.equal((await run()).feeds, 2);
    assert.equal(await rawCount(db.pool, untagged), 1);
  });

  it("stays inside its time budget and does not count the stop against the feeds", async () => {
    for (let i = 0; i < 4; i++) server.routes.set(`/stuck${i}`, () => undefined);
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) ids.push(await insertFeed(db.pool, `${server.base}/stuck${i}`));
    const started = performance.now();
    const summary = await runIngest({
      db: db.stagePool,
      clock,
      logger: quietLogger,
      options: {
        ...TEST_INGEST,
        concurrency: 2,
        budgetMs: 300,
        fetch: { ...TEST_INGEST.fetch, connectTimeoutMs: 10_000, totalTimeoutMs: 10_000 },
      },
    });
    assert.ok(performance.now() - started < 2_000, "the run ended at its budget, not the fetch timeouts");
    assert.equal(summary.stoppedEarly, true);
    assert.equal(summary.feeds, 2, "two workers, one feed each, then the budget ran out");
    // The two claimed feeds were stopped, not failed: no failure counted, no backoff.
    const claimed = summary.outcomes.map((outcome) => outcome.feedId);
    assert.equal(claimed.length, 2);
    for (const outcome of summary.outcomes) assert.equal(outcome.result, "stopped");
    for (const id of claimed) assert.equal((await feedState(db.pool, id)).consecutive_failures, 0);
    assert.ok(claimed.every((id) => ids.includes(id)));
  });

  it("runs as the registered scheduled stage with options from configuration", async () => {
    const stages = await loadStages();
    // Compared by name: the dynamic import in the registry may load its own module instance here.
    assert.deepEqual(
      stages.filter((stage) => stage.name === "inbound-dock").map((stage) => stage.kind),
      ["scheduled"],
    );
    assert.equal(inboundDockStage.kind, "scheduled");
    assert.equal(inboundDockStage.intervalMs, 60_000);
    let userAgent: string | undefined;
    server.routes.set("/stage", (req, res) => {
      userAgent = req.headers["user-agent"];
      res.writeHead(200, { "content-type": "application/rss+xml" }).end(rss(ITEMS));
    });
    const feedId = await insertFeed(db.pool, `${server.base}/stage`);
    const result = await inboundDockStage.run({
      db: db.pool,
      clock,
      logger: quietLogger,
      params: postgresParameterStore(db.pool),
      secrets: envSecrets({}),
      config: loadConfig({ DATABASE_URL: db.url, OPS_INBOUND_CONTACT: "desk@fund.example" }),
      signal: new AbortController().signal,
      instance: "test",
    });
    assert.equal(result?.itemsNew, 3);
    assert.equal(await rawCount(db.pool, feedId), 3);
    assert.match(userAgent ?? "", /^ops-pipeline\/\S+ \(.*contact: desk@fund\.example\)$/);
  });
});
