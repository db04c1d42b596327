import assert from "node:assert/strict";
import {
  canonicalLink,
  eventUid,
  normaliseItem,
  normaliseItems,
  parsePublished,
  plainText,
} from "../../services/inbound-dock/normalise.ts";
import { parseFeedText } from "../../services/inbound-dock/parse.ts";
import { sanitise } from "../../services/inbound-dock/sanitise.ts";

const FETCHED = new Date("2026-01-05T12:00:00Z");

describe("inbound-dock normalising", () => {
  it("drops tracking parameters and fragments and sorts the rest of a link", () => {
    assert.equal(
      canonicalLink("HTTPS://Example.COM:443/a/b?utm_source=x&id=7&fbclid=1&gclid=2&b=1#frag"),
      "https://example.com/a/b?b=1&id=7",
    );
    assert.equal(
      canonicalLink("/rel/path?utm_medium=rss", "https://host.example/feed"),
      "https://host.example/rel/path",
    );
    assert.equal(canonicalLink("tag:mefi.social,2024-01-26:objectId=1"), null);
    assert.equal(canonicalLink("not a url"), null);
  });

  it("turns HTML and entities into trimmed plain text", () => {
    assert.equal(
      plainText("  <p>Acme&nbsp;&amp; <b>Co</b>&#x2019;s &lt;Q3&gt;</p>\n\n beat "),
      "Acme & Co’s <Q3> beat",
    );
    assert.equal(plainText("&lt;b&gt;escaped twice&lt;/b&gt;"), "escaped twice");
    assert.equal(plainText("&#226;&#128;&#166;"), "…", "UTF-8 read as Latin-1 is repaired");
    assert.equal(plainText("don&#146;t"), "don’t", "windows-1252 code points are mapped");
  });

  it("parses RFC 822 and ISO 8601 dates and refuses absurd ones", () => {
    assert.equal(
      parsePublished("Mon, 05 Jan 2026 09:00:00 GMT", FETCHED)?.toISOString(),
      "2026-01-05T09:00:00.000Z",
    );
    assert.equal(
      parsePublished("Mon, 05 Jan 2026 04:00:00 EST", FETCHED)?.toISOString(),
      "2026-01-05T09:00:00.000Z",
    );
    assert.equal(parsePublished("5 Jan 26 09:00 UT", FETCHED)?.toISOString(), "2026-01-05T09:00:00.000Z");
    assert.equal(
      parsePublished("2026-01-05T10:00:00+01:00", FETCHED)?.toISOString(),
      "2026-01-05T09:00:00.000Z",
    );
    assert.equal(parsePublished("1970-01-01T00:00:00Z", FETCHED), null);
    assert.equal(parsePublished("2027-01-01T00:00:00Z", FETCHED), null);
    assert.equal(parsePublished("Τρί, 29 Ιού 2004", FETCHED), null);
    assert.equal(parsePublished(undefined, FETCHED), null);
  });

  it("derives event_uid from the guid, else the canonical link, else title and date", () => {
    const feed = "https://a.example/feed";
    const withGuid = eventUid(
      { guid: "urn:uuid:1", canonicalLink: "https://x/1", title: "t", date: undefined },
      feed,
    );
    assert.match(withGuid, /^guid:[0-9a-f]{64}$/);
    assert.equal(
      withGuid,
      eventUid({ guid: "urn:uuid:1", canonicalLink: null, title: "other", date: "x" }, "https://b.example/"),
    );
    assert.notEqual(
      eventUid({ guid: "123", canonicalLink: null, title: "t", date: undefined }, feed),
      eventUid({ guid: "123", canonicalLink: null, title: "t", date: undefined }, "https://b.example/feed"),
      "a bare guid is scoped to its feed",
    );
    assert.match(
      eventUid({ guid: undefined, canonicalLink: "https://x/1", title: "t", date: undefined }, feed),
      /^link:/,
    );
    assert.match(eventUid({ guid: " ", canonicalLink: null, title: "t", date: "d" }, feed), /^hash:/);
  });

  it("removes in-feed duplicates and clears a link many items share", () => {
    const { items, duplicates, skipped } = normaliseItems(
      [
        { title: "A", link: "https://x/a", guid: "1", date: undefined, summary: undefined },
        { title: "A again", link: "https://x/a2", guid: "1", date: undefined, summary: undefined },
        { title: "B", link: "https://x/home", guid: "2", date: undefined, summary: undefined },
        { title: "C", link: "https://x/home", guid: "3", date: undefined, summary: undefined },
        { title: " ", link: "https://x/z", guid: "4", date: undefined, summary: undefined },
      ],
      { feedUrl: "https://x/feed", fetchedAt: FETCHED },
    );
    assert.deepEqual(
      items.map((i) => [i.title, i.canonicalLink]),
      [
        ["A", "https://x/a"],
        ["B", null],
        ["C", null],
      ],
    );
    assert.equal(duplicates, 1);
    assert.equal(skipped, 1, "an item with neither title nor summary is no headline");
  });
});

describe("inbound-dock parsing and repair", () => {
  it("repairs an unescaped ampersand, a truncated document and an unclosed CDATA", async () => {
    const feed = await parseFeedText(
      "<rss version='2.0'><channel><title>AT&T news</title><item><title>Q&A</title></item><item><title><![CDATA[cut",
    );
    assert.equal(feed.title, "AT&T news");
    assert.deepEqual(
      feed.items.map((i) => i.title),
      ["Q&A", "cut"],
    );
    assert.ok(feed.repairs.includes("entities-escaped"));
    assert.ok(feed.repairs.includes("elements-closed"));
  });

  it("drops control characters XML forbids instead of losing the feed", async () => {
    const feed = await parseFeedText(
      "<rss version='2.0'><channel><item><title>bad\u0001byte\u000B</title></item></channel></rss>",
    );
    const { items } = normaliseItems(feed.items, { feedUrl: "https://x/feed", fetchedAt: FETCHED });
    assert.equal(items[0]?.title, "badbyte");
  });

  it("strips every DOCTYPE and entity declaration, so no entity can be defined", () => {
    const out = sanitise(
      '<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd"><!ENTITY b "&a;&a;">]><rss>&a;&b;</rss>',
    );
    assert.equal(out.text.includes("ENTITY"), false);
    assert.match(out.text, /&amp;a;&amp;b;/);
  });

  it("rejects HTML and other XML as not a feed", async () => {
    await assert.rejects(parseFeedText("<html><body>hello</body></html>"), { name: "NotAFeedError" });
    await assert.rejects(parseFeedText("<?xml version='1.0'?><svg></svg>"), { name: "NotAFeedError" });
    await assert.rejects(parseFeedText(""), { name: "NotAFeedError" });
  });

  describe("terminal and bidi controls (issue 17)", () => {
    const hostile: [string, string, string][] = [
      ["an ANSI colour sequence", "\u001b[31mSELL\u001b[0m everything", "SELL everything"],
      ["ANSI remnants whose ESC was dropped", "[31mSELL[0m [1;33mnow", "SELL now"],
      ["an erase-line remnant, but not a bracketed K", "[2Kdone [K] ok", "done [K] ok"],
      ["an OSC title sequence", "\u001b]0;pwned\u0007Apple beats", "Apple beats"],
      ["an 8-bit CSI (U+009B)", "\u009b31mAlert\u009b0m", "Alert"],
      ["the right-to-left override (U+202E)", "Apple \u202Egnp.exe\u202C results", "Apple gnp.exe results"],
      ["isolates and marks", "\u2066MSFT\u2069 \u200Fup\u200E", "MSFT up"],
      ["C0 controls", "bell\u0007 and\u0008 back", "bell and back"],
      ["C1 controls windows-1252 leaves undefined", "A\u0081B\u008dC\u009dD", "ABCD"],
    ];
    for (const [what, input, expected] of hostile) {
      it(`removes ${what} from titles and summaries`, () => {
        const item = normaliseItem(
          { title: input, summary: `<p>${input}</p>`, link: "https://x/a", guid: "g", date: undefined },
          { feedUrl: "https://x/feed", fetchedAt: FETCHED },
        );
        assert.equal(item?.title, expected);
        assert.equal(item?.summary, expected);
      });
    }

    it("still repairs a windows-1252 apostrophe read as a C1 control", () => {
      assert.equal(plainText("don\u0092t"), "don\u2019t");
    });

    it("keeps a control that arrives as a numeric entity out too", async () => {
      const feed = await parseFeedText(
        "<rss version='2.0'><channel><item><title>&#x202E;evil &#x9B;31mred</title></item></channel></rss>",
      );
      const { items } = normaliseItems(feed.items, { feedUrl: "https://x/feed", fetchedAt: FETCHED });
      assert.equal(items[0]?.title, "evil red");
    });
  });
});
