import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import iconv from "iconv-lite";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import {
  DETECT_SCAN_BYTES,
  decodeFeedBody,
  detectLegacyCharset,
} from "../../services/inbound-dock/decode.ts";
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

// ../shared/corpus beside the repository (CI), or OPS_CORPUS_DIR (a worktree elsewhere).
const CORPUS = process.env.OPS_CORPUS_DIR
  ? path.join(process.env.OPS_CORPUS_DIR, "feeds")
  : path.resolve(import.meta.dirname, "..", "..", "..", "shared", "corpus", "feeds");

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

  describe("undeclared legacy charsets (no BOM, no HTTP charset, no XML declaration)", () => {
    const russian = [
      "Газпром увеличил прибыль на фоне роста экспорта",
      "Сбербанк снизил ставки по вкладам",
      "Курс рубля укрепился к доллару",
    ];
    const feedIn = (titles: readonly string[]) =>
      `<rss version="2.0"><channel><title>Новости рынка</title><link>https://e.example/</link>${titles
        .map(
          (t, i) =>
            `<item><title>${t}</title><link>https://e.example/${i}</link><description><![CDATA[${t}. Подробности позже.]]></description></item>`,
        )
        .join("")}</channel></rss>`;
    const undeclared: { charset: string; titles: string[] }[] = [
      { charset: "koi8-r", titles: russian },
      { charset: "windows-1251", titles: russian },
      { charset: "iso-8859-5", titles: russian },
      { charset: "shift_jis", titles: ["日本の株式市場は上昇した", "トヨタ自動車が決算を発表"] },
      { charset: "euc-kr", titles: ["삼성전자 실적 발표", "현대자동차 신차 출시"] },
      {
        charset: "big5",
        titles: ["台積電營收創新高，鴻海第三季獲利優於預期。", "聯發科發表新一代晶片，股價上漲。"],
      },
      { charset: "gb18030", titles: ["中国股市今天上涨，银行股领涨。", "华为发布新一代手机芯片。"] },
    ];
    for (const { charset, titles } of undeclared) {
      it(`detects ${charset} with the charset detector and reads every headline`, async () => {
        const decoded = decodeFeedBody(iconv.encode(feedIn(titles), charset));
        assert.equal(decoded.source, "detected");
        assert.equal(decoded.charset, charset);
        assert.deepEqual(
          (await parseFeedText(decoded.text)).items.map((i) => i.title),
          titles,
        );
      });
    }

    // A real Russian feed: English channel text, categories, dates and links around short headlines.
    const englishAround = (titles: readonly string[]) =>
      `<?xml version="1.0"?>\n<rss version="2.0"><channel><title>RSS</title><link>https://x.example/</link><description>News feed</description>${titles
        .map(
          (t, i) =>
            `<item><title>${t}</title><link>https://x.example/n/${i}</link><guid>https://x.example/n/${i}</guid><pubDate>Tue, 01 Dec 2026 10:00:00 +0300</pubDate><category>economics</category></item>`,
        )
        .join("")}</channel></rss>`;
    for (const charset of ["koi8-r", "windows-1251"]) {
      for (const titles of [
        ["Индекс S&P 500 вырос на 1,2% после публикации отчета Apple"],
        ["ЦБ РФ", "Нефть Brent подорожала"],
      ]) {
        it(`detects ${charset} among English markup, dates and links: ${titles[0]}`, async () => {
          const decoded = decodeFeedBody(iconv.encode(englishAround(titles), charset));
          assert.equal(decoded.charset, charset);
          assert.deepEqual(
            (await parseFeedText(decoded.text)).items.map((i) => i.title),
            titles,
          );
        });
      }
    }

    it("reads every undeclared Latin-script answer as windows-1252, as before the detector", async () => {
      const titles = ["Banco Santander: ganancias récord en el año", "Telefónica reduce deuda"];
      const decoded = decodeFeedBody(iconv.encode(englishAround(titles), "windows-1252"));
      assert.equal(decoded.charset, "windows-1252");
      assert.deepEqual(
        (await parseFeedText(decoded.text)).items.map((i) => i.title),
        titles,
      );
    });

    it("detects undeclared windows-1252 (curly quotes, accents) as windows-1252", async () => {
      const title = "Société Générale’s “quiet” quarter – résultats publiés";
      const decoded = decodeFeedBody(iconv.encode(feedIn([title, title]), "windows-1252"));
      assert.equal(decoded.charset, "windows-1252");
      assert.equal((await parseFeedText(decoded.text)).items[0]?.title, title);
    });

    it("never asks the detector when the bytes are valid UTF-8 or something declares the charset", () => {
      assert.equal(decodeFeedBody(Buffer.from(feedIn(russian), "utf8")).source, "default");
      const koi8 = iconv.encode(feedIn(russian), "koi8-r");
      // A (wrong) HTTP charset or declaration decides: the detector is not consulted.
      assert.equal(
        decodeFeedBody(koi8, { contentType: "text/xml; charset=windows-1251" }).charset,
        "windows-1251",
      );
      const declared = Buffer.concat([Buffer.from('<?xml version="1.0" encoding="windows-1251"?>'), koi8]);
      assert.equal(decodeFeedBody(declared).source, "xml-declaration");
    });

    it("keeps UTF-8 for a UTF-8 document with one stray byte", () => {
      const bytes = Buffer.concat([Buffer.from(feedIn(russian), "utf8"), Buffer.from([0xff])]);
      const decoded = decodeFeedBody(bytes);
      assert.equal(decoded.charset, "utf-8");
      assert.ok(decoded.text.includes(russian[0] as string));
    });

    it("looks only at the head of a large body: 10 MB whose head is KOI8-R and tail Shift_JIS reads as KOI8-R", () => {
      const head = iconv.encode(feedIn(russian), "koi8-r");
      const tail = iconv.encode("日本の株式市場は上昇した。".repeat(400_000), "shift_jis");
      const body = Buffer.concat([head, Buffer.alloc(DETECT_SCAN_BYTES - head.length, 0x20), tail]);
      assert.ok(body.length > 10_000_000);
      assert.equal(detectLegacyCharset(body), "koi8-r");
      assert.equal(detectLegacyCharset(tail), "shift_jis");
    });
  });

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

  describe("an undeclared KOI8-R feed served over HTTP without a charset", () => {
    const db = useTestDatabase();
    let server: TestServer;
    before(async () => {
      server = await startServer();
      await disableAllFeeds(db.pool);
    });
    after(async () => {
      await server.close();
    });

    it("is stored with its Cyrillic headlines, not windows-1252 mojibake", async () => {
      const titles = ["Газпром увеличил прибыль", "Сбербанк снизил ставки по вкладам"];
      const xml = `<rss version="2.0"><channel><title>Новости</title>${titles
        .map((t, i) => `<item><title>${t}</title><link>https://koi8.example/${i}</link></item>`)
        .join("")}</channel></rss>`;
      server.routes.set("/koi8", serve(iconv.encode(xml, "koi8-r"), "application/rss+xml"));
      await insertFeed(db.pool, `${server.base}/koi8`, "koi8");
      await runIngest({
        db: db.pool,
        clock: new FakeClock("2026-01-05T12:00:00Z"),
        logger: quietLogger,
        options: TEST_INGEST,
      });
      const stored = await db.pool.anyFirst(
        sql.type(z.object({ title: z.string() }))`SELECT title FROM inbound_events_raw ORDER BY id`,
      );
      assert.deepEqual([...stored].sort(), [...titles].sort());
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
