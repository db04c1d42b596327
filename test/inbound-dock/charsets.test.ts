import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import iconv from "iconv-lite";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { decodeFeedBody } from "../../services/inbound-dock/decode.ts";
import { runIngest } from "../../services/inbound-dock/ingest.ts";
import { parseFeedText } from "../../services/inbound-dock/parse.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  disableAllFeeds,
  insertFeed,
  quietLogger,
  serve,
  startServer,
  TEST_INGEST,
  type TestServer,
} from "./helpers.ts";

const CORPUS = path.join(
  process.env.OPS_CORPUS_DIR ?? path.resolve(import.meta.dirname, "..", "..", "..", "shared", "corpus"),
  "feeds",
);

/** A headline in each script, and the charsets that can carry it. */
const CASES: { charset: string; title: string; bom?: boolean }[] = [
  { charset: "koi8-r", title: "Газпром увеличил прибыль" },
  { charset: "windows-1251", title: "Сбербанк снизил ставки" },
  { charset: "euc-kr", title: "삼성전자 실적 발표" },
  { charset: "big5", title: "台積電營收創新高" },
  { charset: "iso-8859-1", title: "Société Générale: résultats" },
  { charset: "windows-1252", title: "Nestlé’s “quiet” quarter – €2bn" },
  { charset: "utf-16le", title: "UTF-16 LE: Überraschung €", bom: true },
  { charset: "utf-16be", title: "UTF-16 BE: Überraschung €", bom: true },
  { charset: "utf-16be", title: "UTF-16 BE no BOM: Ελλάδα" },
  { charset: "utf-32le", title: "UTF-32 LE: 日本 €", bom: true },
  { charset: "utf-32be", title: "UTF-32 BE no BOM: 日本 €" },
];

function encodedFeed(charset: string, title: string, options: { declare: boolean; bom: boolean }): Buffer {
  const label = charset === "utf-16le" || charset === "utf-16be" ? "utf-16" : charset;
  const decl = options.declare ? `<?xml version="1.0" encoding="${label}"?>\n` : "";
  const xml = `${decl}<rss version="2.0"><channel><title>${title}</title><item><title>${title}</title><link>https://e.example/${encodeURIComponent(charset)}-${options.declare}-${options.bom}</link></item></channel></rss>`;
  return iconv.encode(xml, charset, { addBOM: options.bom });
}

describe("inbound-dock charsets", () => {
  for (const { charset, title, bom } of CASES) {
    it(`decodes ${charset}${bom ? " with a BOM" : ""} from the XML declaration`, async () => {
      const decoded = decodeFeedBody(encodedFeed(charset, title, { declare: true, bom: bom ?? false }));
      const feed = await parseFeedText(decoded.text);
      assert.equal(feed.items[0]?.title, title);
    });
  }

  it("lets the HTTP charset override a wrong XML declaration", async () => {
    const bytes = Buffer.concat([
      Buffer.from('<?xml version="1.0" encoding="iso-8859-1"?>'),
      iconv.encode(
        "<rss version='2.0'><channel><item><title>Роснефть</title></item></channel></rss>",
        "windows-1251",
      ),
    ]);
    const decoded = decodeFeedBody(bytes, { contentType: "application/rss+xml; charset=windows-1251" });
    assert.equal(decoded.source, "http");
    assert.equal((await parseFeedText(decoded.text)).items[0]?.title, "Роснефть");
  });

  describe("served over HTTP with only a Content-Type charset, stored in the database", () => {
    const db = useTestDatabase();
    let server: TestServer;
    before(async () => {
      server = await startServer();
      await disableAllFeeds(db.pool);
    });
    after(async () => {
      await server.close();
    });

    it("stores every charset's headline exactly", async () => {
      const serveable = CASES.filter((c) => !c.charset.startsWith("utf-"));
      for (const { charset, title } of serveable) {
        server.routes.set(
          `/${charset}`,
          serve(encodedFeed(charset, title, { declare: false, bom: false }), `text/xml; charset=${charset}`),
        );
        await insertFeed(db.pool, `${server.base}/${charset}`, charset);
      }
      await runIngest({
        db: db.pool,
        clock: new FakeClock("2026-01-05T12:00:00Z"),
        logger: quietLogger,
        options: TEST_INGEST,
      });
      const titles = await db.pool.anyFirst(
        sql.type(z.object({ title: z.string() }))`SELECT title FROM inbound_events_raw ORDER BY id`,
      );
      assert.deepEqual([...titles].sort(), serveable.map((c) => c.title).sort());
    });
  });

  describe("corpus files", () => {
    before(function () {
      if (!existsSync(CORPUS)) {
        console.warn(`    (skipped: the feed corpus is not at ${CORPUS}; see ../shared/corpus/README.md)`);
        this.skip();
      }
    });
    const read = async (file: string, contentType?: string) => {
      const decoded = decodeFeedBody(readFileSync(path.join(CORPUS, file)), { contentType });
      return { decoded, feed: await parseFeedText(decoded.text) };
    };

    it("reads UTF-16LE with a BOM and UTF-32BE without one", async () => {
      const le = await read("feedparser/encoding__utf-16le-bom.xml");
      assert.equal(le.decoded.charset, "utf-16le");
      const be = await read("feedparser/encoding__utf-32be.xml");
      assert.equal(be.decoded.charset, "utf-32be");
    });

    it("reads EUC-KR", async () => {
      assert.equal((await read("feedparser/encoding__euc-kr.xml")).feed.title, "년");
    });

    it("reads a declared ISO-8859-1 feed (Portuguese) with its accents", async () => {
      const { feed } = await read("rss-parser/encoding.rss");
      assert.equal(feed.items[0]?.title, "Mãe de utente é a nova presidente da Raríssimas");
    });

    it("reads windows-1252 curly quotes when the HTTP charset says so", async () => {
      const { feed } = await read(
        "feedparser/encoding__http_text_xml_charset_overrides_encoding_2.xml",
        "text/xml; charset=windows-1252",
      );
      assert.equal(feed.items[0]?.summary, "This is a £“test.”");
    });
  });
});
