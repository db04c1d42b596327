import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { analyseCorpus, type CorpusReport } from "../../scripts/lib/feed-corpus.ts";

const CORPUS = path.join(
  process.env.OPS_CORPUS_DIR ?? path.resolve(import.meta.dirname, "..", "..", "..", "shared", "corpus"),
  "feeds",
);

describe("inbound-dock over the real-world feed corpus", () => {
  let report: CorpusReport;
  before(async function () {
    if (!existsSync(CORPUS)) {
      console.warn(`    (skipped: the feed corpus is not at ${CORPUS}; see ../shared/corpus/README.md)`);
      this.skip();
    }
    report = await analyseCorpus(CORPUS);
  });

  const file = (name: string) => {
    const found = report.files.find((f) => f.file === name);
    assert.ok(found, `${name} is in the corpus`);
    return found;
  };
  const items = (name: string) => {
    const ours = file(name).ours;
    assert.ok(!("error" in ours), `${name} was read: ${"error" in ours ? ours.error : ""}`);
    return ours;
  };

  it("reads every file except the non-feeds, and at least every file plain rss-parser reads", () => {
    assert.deepEqual(report.totals.unread.map((line) => line.split(":")[0]).sort(), [
      "feedparser/illformed__rss_empty_document.xml",
      "node-feedparser/notafeed.html",
      "rss-parser/unrecognized.rss",
    ]);
    for (const f of report.files) {
      if ("error" in f.plain) continue;
      assert.ok(!("error" in f.ours), `${f.file}: plain rss-parser reads it, so must we`);
      assert.ok(
        "items" in f.ours && "items" in f.plain && f.ours.items >= f.plain.items,
        `${f.file}: no fewer items than plain rss-parser`,
      );
    }
  });

  it("passes every check the peers' own tests make that applies to a headline ingester", () => {
    const failed = report.files.flatMap((f) =>
      f.checks
        .filter((c) => !c.ok)
        .map((c) => `${f.file}: ${c.what} expected ${c.expected}, got ${c.actual}`),
    );
    assert.deepEqual(failed, []);
    assert.ok(report.totals.checks >= 100, `the manifest yields its checks (${report.totals.checks})`);
  });

  it("recovers the documents plain rss-parser throws on: bad ampersands, truncation, empty RDF, UTF-16/32", () => {
    assert.equal(items("feedparser/entities__query_variable_entry.xml").link0, "http://example/?a=1&b=2&c");
    assert.equal(items("feedparser/entities__hex_entity_x_lowercase.xml").title0, "A");
    assert.equal(
      items("feedparser/illformed__rss_incomplete_cdata.xml").feedTitle,
      "can feedparser read this xml",
    );
    assert.equal(items("feedparser/wellformed__rdf__doctype_contains_entity_decl.xml").items, 0);
    assert.equal(items("feedparser/encoding__utf-16le-bom.xml").charset, "utf-16le");
    assert.equal(items("node-feedparser/complexNamespaceFeed.xml").title0, "This is the title");
    assert.equal(items("node-feedparser/invalid-characters-gzipped.xml").items, 25);
    assert.ok(report.totals.recovered >= 14, `recovered ${report.totals.recovered}`);
  });

  it("decodes titles in legacy charsets and repairs mis-encoded text", () => {
    assert.equal(items("rss-parser/encoding.rss").title0, "Mãe de utente é a nova presidente da Raríssimas");
    assert.equal(items("feedparser/encoding__euc-kr.xml").feedTitle, "년");
    assert.equal(items("feedparser/encoding__demoronize-1.xml").summary0, "don’t");
    assert.equal(items("feedparser/encoding__double-encoded-html.xml").summary0, "…");
    assert.equal(items("sec-edgar/keenvision_company.atom.xml").title0, "8-K - Current report");
    assert.equal(
      items("sec-edgar/sec_pressreleases.rss").title0,
      "Acting Chairman Mark T. Uyeda Names Acting Senior Staff",
    );
  });

  it("strips markup and entities from titles (craigslist's escaped HTML)", () => {
    assert.equal(
      items("rss-parser/craigslist.rss").title0,
      "Bright, Spacious Beautiful Victorian (oakland north / temescal) $4300 3bd 1930ft2",
    );
  });
});
