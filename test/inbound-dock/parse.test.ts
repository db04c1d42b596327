import assert from "node:assert/strict";
import { ASYNC_PARSE_ABOVE_CHARS, parseFeedText } from "../../services/inbound-dock/parse.ts";

function bigFeed(items: number, tag: string): string {
  const body = Array.from(
    { length: items },
    (_, i) =>
      `<item><title>${tag} company ${i} &amp; partners</title><link>https://wire.example/${tag}/${i}</link><guid>${tag}-${i}</guid><pubDate>Mon, 05 Jan 2026 08:00:00 GMT</pubDate><description>Revenue rose ${i % 17}%.</description></item>`,
  );
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>${tag}</title>${body.join("")}</channel></rss>`;
}

describe("parsing a large feed", () => {
  const text = bigFeed(5_000, "a");

  it("is above the size from which parsing yields to the event loop", () => {
    assert.ok(text.length > ASYNC_PARSE_ABOVE_CHARS, `${text.length} chars`);
  });

  it("lets other work run while it parses, and gives the same items as the synchronous parse", async () => {
    let ticksDuringParse = 0;
    let parsing = true;
    const tick = () => {
      if (!parsing) return;
      ticksDuringParse += 1;
      setImmediate(tick);
    };
    setImmediate(tick);
    const inPieces = await parseFeedText(text);
    parsing = false;
    const inOneGo = await parseFeedText(text, { asyncAboveChars: Number.POSITIVE_INFINITY });
    assert.ok(ticksDuringParse > 10, `other work ran ${ticksDuringParse} times during the parse`);
    assert.equal(inPieces.items.length, 5_000);
    assert.deepEqual(inPieces, inOneGo);
  });

  it("keeps two large feeds parsed at once apart", async () => {
    const other = bigFeed(3_000, "b");
    const [a, b] = await Promise.all([parseFeedText(text), parseFeedText(other)]);
    assert.equal(a.items.length, 5_000);
    assert.equal(b.items.length, 3_000);
    assert.equal(a.title, "a");
    assert.equal(b.title, "b");
    assert.ok(a.items.every((item) => item.guid?.startsWith("a-")));
    assert.ok(b.items.every((item) => item.guid?.startsWith("b-")));
  });

  it("gives a broken large document the synchronous parse's answer, keeping the items it recovers", async () => {
    const broken = `${text.slice(0, 400_000)}<item><title>x</title></channel>`;
    const inOneGo = await parseFeedText(broken, { asyncAboveChars: Number.POSITIVE_INFINITY });
    assert.ok(inOneGo.items.length > 1_000, `${inOneGo.items.length} items recovered`);
    assert.deepEqual(await parseFeedText(broken), inOneGo);
  });
});
