import assert from "node:assert/strict";
import * as z from "zod";
import { sql } from "../../services/common/db.ts";
import {
  addFeed,
  FeedNotFoundError,
  listFeeds,
  pauseFeed,
  removeFeed,
  resumeFeed,
  setFeedInterval,
} from "../../services/inbound-dock/feeds.ts";
import { formatPollDuration, parsePollDuration } from "../../services/inbound-dock/schedule.ts";
import { useTestDatabase } from "../helpers/db.ts";

const NOW = new Date("2026-01-05T12:00:00Z");
const BOUNDS = { defaultMs: 60_000, floorMs: 10_000, ceilingMs: 3_600_000 };

describe("inbound-dock feed list", () => {
  const db = useTestDatabase();

  it("is seeded with public financial feeds, each stating its terms", async () => {
    const feeds = await listFeeds(db.pool);
    const urls = feeds.map((f) => f.url);
    assert.ok(
      urls.some((u) => u.startsWith("https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&type=8-K")),
    );
    assert.ok(urls.some((u) => u.includes("nasdaqtrader.com/rss.aspx?feed=tradehalts")));
    assert.ok(urls.some((u) => u.includes("globenewswire.com")));
    assert.ok(urls.some((u) => u.includes("prnewswire.com")));
    for (const feed of feeds) assert.ok((feed.terms ?? "").length > 40, `${feed.name} states its terms`);
  });

  it("adds, pauses, resumes and removes a feed", async () => {
    const added = await addFeed(db.pool, {
      url: "https://example.com/feed.xml",
      name: " Example ",
      tags: ["Wire", "wire", " us "],
    });
    assert.equal(added.name, "Example");
    assert.deepEqual(added.tags, ["wire", "us"]);
    assert.equal(added.enabled, true);
    assert.equal((await pauseFeed(db.pool, added.id, NOW)).enabled, false);
    assert.equal((await resumeFeed(db.pool, added.id, NOW)).enabled, true);
    assert.equal((await removeFeed(db.pool, added.id)).id, added.id);
    assert.equal(
      (await listFeeds(db.pool)).some((f) => f.id === added.id),
      false,
    );
  });

  it("refuses a duplicate URL, a non-HTTP URL and an unknown id with what to do next", async () => {
    await addFeed(db.pool, { url: "https://example.com/dupe.xml", name: "Dupe" });
    await assert.rejects(addFeed(db.pool, { url: "https://example.com/dupe.xml", name: "Again" }), {
      code: "FEED_EXISTS",
    });
    await assert.rejects(addFeed(db.pool, { url: "ftp://example.com/x", name: "Ftp" }), {
      code: "FEED_INVALID",
    });
    await assert.rejects(addFeed(db.pool, { url: "https://example.com/y", name: "  " }), {
      code: "FEED_INVALID",
    });
    await assert.rejects(pauseFeed(db.pool, 999_999, NOW), { code: "FEED_NOT_FOUND" });
    await assert.rejects(removeFeed(db.pool, 999_999), { code: "FEED_NOT_FOUND" });
  });

  describe("an operator's poll interval (issue 16.3)", () => {
    const operatorSetting = async (id: number) =>
      db.pool.oneFirst(
        sql.type(z.object({ poll_interval_ms: z.number().nullable() }))`
          SELECT poll_interval_ms FROM feeds WHERE id = ${id}`,
      );

    it("sets and clears feeds.poll_interval_ms, saying what the next fetch will use", async () => {
      const feed = await addFeed(db.pool, { url: "https://example.com/interval.xml", name: "Interval" });
      assert.equal(feed.operator_interval_ms, null);
      const set = await setFeedInterval(db.pool, feed.id, 30_000, BOUNDS, NOW);
      assert.equal(await operatorSetting(feed.id), 30_000);
      assert.equal(set.feed.operator_interval_ms, 30_000);
      assert.deepEqual(set.effective, { intervalMs: 30_000, source: "operator" });
      const cleared = await setFeedInterval(db.pool, feed.id, null, BOUNDS, NOW);
      assert.equal(await operatorSetting(feed.id), null);
      assert.deepEqual(cleared.effective, { intervalMs: 60_000, source: "default" });
    });

    it("once cleared, gives the feed's own <ttl> back, and Cache-Control's last interval", async () => {
      const ttl = await addFeed(db.pool, { url: "https://example.com/ttl.xml", name: "Ttl" });
      const cached = await addFeed(db.pool, { url: "https://example.com/cached.xml", name: "Cached" });
      await db.pool.query(sql.unsafe`
        INSERT INTO feed_state (feed_id, feed_ttl_ms, poll_interval_ms, poll_interval_source, last_fetched_at, next_fetch_at)
        VALUES (${ttl.id}, 900000, 900000, 'ttl', ${sql.timestamp(NOW)}, ${sql.timestamp(new Date(NOW.getTime() + 900_000))}),
          (${cached.id}, NULL, 300000, 'cache-control', ${sql.timestamp(NOW)}, ${sql.timestamp(new Date(NOW.getTime() + 300_000))})`);
      await setFeedInterval(db.pool, ttl.id, 20_000, BOUNDS, NOW);
      assert.deepEqual((await setFeedInterval(db.pool, ttl.id, null, BOUNDS, NOW)).effective, {
        intervalMs: 900_000,
        source: "ttl",
      });
      assert.deepEqual((await setFeedInterval(db.pool, cached.id, null, BOUNDS, NOW)).effective, {
        intervalMs: 300_000,
        source: "cache-control",
      });
    });

    it("brings a healthy feed's next fetch forward to its last fetch plus a shorter interval, never a failing one's", async () => {
      const healthy = await addFeed(db.pool, { url: "https://example.com/healthy.xml", name: "Healthy" });
      const failing = await addFeed(db.pool, { url: "https://example.com/failing.xml", name: "Failing" });
      const leased = await addFeed(db.pool, { url: "https://example.com/leased.xml", name: "Leased" });
      const lastFetch = new Date(NOW.getTime() - 5_000);
      const inAnHour = new Date(NOW.getTime() + 3_600_000);
      await db.pool.query(sql.unsafe`
        INSERT INTO feed_state (feed_id, feed_ttl_ms, poll_interval_ms, poll_interval_source, last_fetched_at,
          updated_at, next_fetch_at, consecutive_failures)
        VALUES
          (${healthy.id}, 3600000, 3600000, 'ttl', ${sql.timestamp(lastFetch)}, ${sql.timestamp(lastFetch)}, ${sql.timestamp(inAnHour)}, 0),
          (${failing.id}, NULL, NULL, NULL, ${sql.timestamp(lastFetch)}, ${sql.timestamp(lastFetch)}, ${sql.timestamp(inAnHour)}, 3),
          (${leased.id}, NULL, NULL, NULL, ${sql.timestamp(lastFetch)}, ${sql.timestamp(NOW)}, ${sql.timestamp(inAnHour)}, 0)`);
      const moved = await setFeedInterval(db.pool, healthy.id, 30_000, BOUNDS, NOW);
      assert.equal(moved.feed.next_fetch_at, lastFetch.getTime() + 30_000);
      const kept = await setFeedInterval(db.pool, failing.id, 30_000, BOUNDS, NOW);
      assert.equal(kept.feed.next_fetch_at, inAnHour.getTime(), "a backoff stands");
      // Claimed since its last fetch (updated after it, due later): a run is fetching it now.
      const inFlight = await setFeedInterval(db.pool, leased.id, 30_000, BOUNDS, NOW);
      assert.equal(inFlight.feed.next_fetch_at, inAnHour.getTime(), "a lease stands");
      // A longer interval leaves the sooner slot alone: the new one applies from the fetch after.
      const longer = await setFeedInterval(db.pool, healthy.id, 3_600_000, BOUNDS, NOW);
      assert.equal(longer.feed.next_fetch_at, lastFetch.getTime() + 30_000);
    });

    it("refuses an interval outside the bounds, naming them, and changes nothing", async () => {
      const feed = await addFeed(db.pool, { url: "https://example.com/bounds.xml", name: "Bounds" });
      await setFeedInterval(db.pool, feed.id, 120_000, BOUNDS, NOW);
      for (const ms of [5_000, 2 * 3_600_000]) {
        await assert.rejects(setFeedInterval(db.pool, feed.id, ms, BOUNDS, NOW), (error: Error) => {
          assert.equal((error as Error & { code: string }).code, "FEED_INTERVAL_INVALID");
          assert.match(error.message, /from 10s to 1h/);
          return true;
        });
      }
      assert.equal(await operatorSetting(feed.id), 120_000);
      await assert.rejects(
        addFeed(
          db.pool,
          { url: "https://example.com/fast.xml", name: "Fast", pollIntervalMs: 1_000 },
          BOUNDS,
        ),
        { code: "FEED_INTERVAL_INVALID" },
      );
      assert.equal(
        (await listFeeds(db.pool)).some((f) => f.url === "https://example.com/fast.xml"),
        false,
        "a refused interval adds no feed",
      );
      const fast = await addFeed(
        db.pool,
        { url: "https://example.com/fast.xml", name: "Fast", pollIntervalMs: 15_000 },
        BOUNDS,
      );
      assert.equal(fast.operator_interval_ms, 15_000);
    });

    it("names a missing feed", async () => {
      await assert.rejects(setFeedInterval(db.pool, 999_999, 30_000, BOUNDS, NOW), FeedNotFoundError);
      await assert.rejects(setFeedInterval(db.pool, 999_999, null, BOUNDS, NOW), { code: "FEED_NOT_FOUND" });
    });

    it("reads durations as typed and writes them back the same way", () => {
      assert.equal(parsePollDuration("30s"), 30_000);
      assert.equal(parsePollDuration(" 2M "), 120_000);
      assert.equal(parsePollDuration("1h"), 3_600_000);
      for (const bad of ["0s", "30", "1.5m", "-1m", "1d", "soon", ""])
        assert.equal(parsePollDuration(bad), null, bad);
      assert.equal(formatPollDuration(30_000), "30s");
      assert.equal(formatPollDuration(90_000), "90s");
      assert.equal(formatPollDuration(120_000), "2m");
      assert.equal(formatPollDuration(3_600_000), "1h");
      assert.equal(formatPollDuration(1_500), "1500ms");
    });
  });
});
