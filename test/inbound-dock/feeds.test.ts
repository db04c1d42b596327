import assert from "node:assert/strict";
import { addFeed, listFeeds, pauseFeed, removeFeed, resumeFeed } from "../../services/inbound-dock/feeds.ts";
import { useTestDatabase } from "../helpers/db.ts";

const NOW = new Date("2026-01-05T12:00:00Z");

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
});
