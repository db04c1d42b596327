import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { OperatorError } from "../../services/common/errors.ts";
import { deriveSnapshot, formatSnapshot } from "../../services/sortation/ticker-snapshot.ts";
import {
  buildUniverse,
  extractTickers,
  findTickers,
  loadShippedUniverse,
  loadUniverse,
  MAX_TEXT_CHARS,
  normaliseCompanyName,
  normaliseSymbol,
  TickerSnapshot,
  type TickerUniverse,
} from "../../services/sortation/tickers.ts";
import { testUniverse } from "./fixtures.ts";

const universe = testUniverse();
const tickers = (text: string) => extractTickers(text, universe);

describe("ticker extraction", () => {
  it("finds cashtags, in any case, with share classes written with a dot", () => {
    assert.deepEqual(tickers("$AAPL and $nvda rally; $BRK.B flat; $brk-a up"), [
      "AAPL",
      "NVDA",
      "BRK.B",
      "BRK.A",
    ]);
  });

  it("ignores dollar amounts and cashtags of symbols outside the universe", () => {
    assert.deepEqual(tickers("Startup raises $100 million, eyes $ZZZZ listing"), []);
  });

  it("takes exchange-qualified symbols of the universe, with or without space and parentheses", () => {
    assert.deepEqual(tickers("Acme Robotics (NASDAQ: ACME) prices IPO"), []);
    assert.deepEqual(tickers("Tesla (NASDAQ: TSLA) prices offering"), ["TSLA"]);
    assert.deepEqual(tickers("Block (NYSE:XYZ) shares jump"), ["XYZ"]);
    assert.deepEqual(tickers("Gartner, Inc. (NYSE: IT) beats"), ["IT"]);
    assert.deepEqual(tickers("Filing from nyse american: IBM"), ["IBM"]);
  });

  it("finds company names written as proper nouns, longest name first", () => {
    assert.deepEqual(tickers("Apple and Microsoft lead gains"), ["AAPL", "MSFT"]);
    assert.deepEqual(tickers("Bank of America raises dividend"), ["BAC"]);
    assert.deepEqual(tickers("Berkshire Hathaway buys more stock"), ["BRK.B"]);
  });

  it("does not take a lower-case common noun for a company", () => {
    assert.deepEqual(tickers("Why an apple a day keeps analysts away"), []);
  });

  it("keeps bare uppercase English words out without context: ALL, IT, A, ON", () => {
    assert.deepEqual(tickers("ALL eyes on the Fed as IT spending slows; A rally ON hold"), []);
  });

  it("takes every symbol of a ticker list, in parentheses or as a run after a colon", () => {
    assert.deepEqual(tickers("Stocks to watch: IT, ALL, ON"), ["IT", "ALL", "ON"]);
    assert.deepEqual(tickers("Top Gainers (NVDA, A, TSLA)"), ["NVDA", "A", "TSLA"]);
  });

  it("takes an ambiguous symbol with context: in parentheses or followed by shares or stock", () => {
    assert.deepEqual(tickers("Allstate (ALL) raises outlook"), ["ALL"]);
    assert.deepEqual(tickers("ON shares surge after guidance"), ["ON"]);
  });

  it("takes an unambiguous bare symbol in a normal headline, but not in an all-caps one", () => {
    assert.deepEqual(tickers("NVDA, TSLA slide premarket"), ["NVDA", "TSLA"]);
    assert.deepEqual(tickers("BREAKING: IBM TO CUT JOBS, SAYS CEO"), []);
  });

  it("returns several tickers of one headline once each, in order of appearance", () => {
    assert.deepEqual(tickers("Tesla vs $TSLA bears; Apple (NASDAQ:AAPL) and Nvidia"), [
      "TSLA",
      "AAPL",
      "NVDA",
    ]);
  });

  it("does not match a one-word name that is an English word (Target) but does its symbol", () => {
    assert.deepEqual(tickers("Analysts Target Higher Prices"), []);
    assert.deepEqual(tickers("$TGT slides"), ["TGT"]);
  });
});

describe("ticker attribution on the shipped universe", () => {
  let shipped: TickerUniverse;
  before(async () => {
    shipped = await loadShippedUniverse();
  });
  const about = (text: string) => extractTickers(text, shipped);

  it("does not attribute a rating firm that is the source of a rating, target or note", () => {
    assert.deepEqual(about("UBS Maintains Neutral on AmerisourceBergen, Raises Price Target to $98"), [
      "COR",
    ]);
    assert.deepEqual(about("Barrick Gold Downgraded To Hold At Jefferies"), ["GOLD"]);
    assert.deepEqual(about("UPDATE: Jefferies Sees 'continued margin pressure' For McKesson"), ["MCK"]);
    assert.deepEqual(about("Morgan Stanley: Barrick Gold Must Cut Debt Before Executing Its Plan"), ["GOLD"]);
    assert.deepEqual(about("Goldcorp Might've Just Hit Bottom, Barclays Says"), []);
    assert.deepEqual(about("Agilent Technologies To Present At Goldman Sachs Healthcare Conference"), ["A"]);
  });

  it("attributes the same firm when the news is about it", () => {
    assert.deepEqual(about("Goldman Sachs Reports Q3 EPS $5.20 vs $4.80 Est"), ["GS"]);
    assert.deepEqual(about("Wells Fargo Downgrades Bank of America to Underweight"), ["BAC"]);
    assert.deepEqual(about("Barrick Gold, Deutsche Bank, Intrexon: Fast Money Picks"), [
      "GOLD",
      "DB",
      "PGEN",
    ]);
  });

  it("finds names with possessives, hyphens, '&' or 'and', and without Group/Technologies tails", () => {
    assert.deepEqual(about("Apple's iPhone Sales Beat; Coca-Cola's Q3 Misses"), ["AAPL", "KO"]);
    assert.deepEqual(about("Procter and Gamble, Johnson & Johnson Rise"), ["PG", "JNJ"]);
    assert.deepEqual(about("American Airlines Sees Q4 Revenue Up; Agilent Q3 EPS Beats"), ["AAL", "A"]);
  });

  it("finds well-known one-word names that are also words or start lower-case, but not a first name", () => {
    assert.deepEqual(about("Ford Recalls 1M Vehicles; Dell Unveils Laptops; eBay Q2 Beats"), [
      "F",
      "DELL",
      "EBAY",
    ]);
    assert.deepEqual(about("Tim Cook Says Apple Services Growth Is Underappreciated"), ["AAPL"]);
    assert.deepEqual(about("Abbott Labs Beats Estimates; Toyota Recalls Cars"), ["ABT", "TM"]);
    assert.deepEqual(about("Target Corp Q3 Earnings; Visa Inc. Reports; Analysts Target Visa Rules"), [
      "TGT",
      "V",
    ]);
    assert.deepEqual(about("GM Recalls 1M Cars; BP Oil Spill Costs Rise; JD.com Beats"), ["GM", "BP", "JD"]);
  });

  it("never takes a lone common word for a company", () => {
    assert.deepEqual(about("Deutsche Bank Maintains Hold, Lowers Price Target"), []);
    assert.deepEqual(about("54 Stocks Moving In Monday's Mid-Day Session With The Highest Volume"), []);
    assert.deepEqual(about("Gold Prices Mixed on Stronger Dollar; Is The Rally Over For Gold?"), []);
  });

  it("does not take an exchange named as the venue, but does when the exchange is the news", () => {
    assert.deepEqual(about("Renmin Tianli Receives Nasdaq Notification Of Non-Compliance"), []);
    assert.deepEqual(about("Top 4 NYSE Stocks In The Rental Industry"), []);
    assert.deepEqual(about("Nasdaq Reports Q1 Revenue Up 10%"), ["NDAQ"]);
  });

  it("does not take a news outlet that carries the story", () => {
    assert.deepEqual(about("Apple Plans Cheaper iPhone, According To The New York Times"), ["AAPL"]);
    assert.deepEqual(about("New York Times Reports Q2 EPS $0.20"), ["NYT"]);
  });

  it("does not take abbreviations that only look like symbols", () => {
    assert.deepEqual(
      about("Merck's PD-L1 Data Due 8:30 AM ET Nov. 17; ABC Jul $77.5 Put, OI: 25; DE Shaw Buys"),
      ["MRK", "COR"],
    );
  });

  it("attributes renamed companies and former symbols with today's tickers", () => {
    assert.deepEqual(about("AmerisourceBergen Q3 Adj. EPS $1.76 Beats"), ["COR"]);
    assert.deepEqual(about("Citi Likes Barrick Gold (ABX)"), ["GOLD"]);
    assert.deepEqual(about("Top Stocks In The Drugs Wholesale Industry (MHS, ABC, CAH, MCK)"), [
      "COR",
      "CAH",
      "MCK",
    ]);
    assert.deepEqual(about("ABC News Reports Storm Damage; Disney's ABC Network Renews Show"), ["DIS"]);
  });

  it("says how each ticker was found, with the text that found it", () => {
    assert.deepEqual(findTickers("$TSLA and Apple (NASDAQ: AAPL) vs Nvidia; stocks: GM, F, ET", shipped), [
      { ticker: "TSLA", via: "cashtag", text: "$TSLA" },
      { ticker: "AAPL", via: "name", text: "Apple" },
      { ticker: "NVDA", via: "name", text: "Nvidia" },
      { ticker: "GM", via: "symbol", text: "GM" },
      { ticker: "F", via: "symbol", text: "F" },
      { ticker: "ET", via: "symbol", text: "ET" },
    ]);
    assert.deepEqual(findTickers("Aaron's, Inc. (NYSE: AAN) Reports; Exxon (NYSE:XOM) too", shipped), [
      { ticker: "XOM", via: "name", text: "Exxon" },
    ]);
  });

  it("reads control characters as spaces", () => {
    assert.deepEqual(about("Bank\u0000of\nAmerica\u0007 rallies;\u2028Apple\tslips"), ["BAC", "AAPL"]);
  });

  it("reads only the first MAX_TEXT_CHARS of a 1 MB headline, without error", () => {
    const huge = `Apple rallies ${"and then some ".repeat(80_000)} Nvidia`;
    assert.ok(huge.length > 1_000_000);
    assert.deepEqual(about(huge), ["AAPL"]);
    assert.deepEqual(about(huge), about(huge.slice(0, MAX_TEXT_CHARS)));
    assert.deepEqual(about(`${"(".repeat(500_000)}AAPL${")".repeat(500_000)}`), []);
  });
});

describe("share-class notation", () => {
  it("writes every provider's notation in the canonical dot form", () => {
    for (const written of ["BRK-B", "BRK.B", "BRK/B", "brk b", " BRK.B "])
      assert.equal(normaliseSymbol(written), "BRK.B");
    assert.equal(normaliseSymbol("BTC/USD"), "BTC/USD"); // a currency pair, not a class
  });
});

describe("ticker snapshot", () => {
  const sec = JSON.stringify({
    fields: ["cik", "name", "ticker", "exchange"],
    data: [
      [320193, "Apple Inc.", "AAPL", "Nasdaq"],
      [1067983, "BERKSHIRE HATHAWAY INC", "BRK-B", "NYSE"],
      [1067983, "BERKSHIRE HATHAWAY INC", "BRK-A", "NYSE"],
      [59478, "ELI LILLY & Co", "LLY", "NYSE"],
      [1, "Pink Sheet Corp", "PINKY", "OTC"],
      [2, "Unlisted Holdings", "UNLS", null],
    ],
  });

  it("keeps only exchange-listed rows, normalised, with its provenance in the header", () => {
    const now = new Date("2026-03-01T00:00:00Z");
    const snapshot = deriveSnapshot(sec, { source: "test.json", now, derivedBy: "test" });
    assert.deepEqual(snapshot.companies, [
      ["AAPL", "Nasdaq", "APPLE"],
      ["BRK.B", "NYSE", "BERKSHIRE HATHAWAY"],
      ["BRK.A", "NYSE", "BERKSHIRE HATHAWAY"],
      ["LLY", "NYSE", "ELI LILLY"],
    ]);
    assert.equal(snapshot.derivedAt, "2026-03-01T00:00:00.000Z");
    assert.equal(snapshot.source, "test.json");
    assert.match(snapshot.sourceSha256, /^[0-9a-f]{64}$/);
    // The formatted file parses back to the same snapshot, and the first ticker of a name wins.
    const reparsed = TickerSnapshot.parse(JSON.parse(formatSnapshot(snapshot)));
    assert.deepEqual(reparsed, snapshot);
    assert.deepEqual(extractTickers("Berkshire Hathaway sells Apple", buildUniverse(reparsed)), [
      "BRK.B",
      "AAPL",
    ]);
  });

  it("refuses a snapshot file that is missing, naming it", () => {
    assert.throws(
      () => loadUniverse("/nonexistent/tickers.json"),
      (error: unknown) => error instanceof OperatorError && error.code === "TICKERS_SNAPSHOT_INVALID",
    );
  });

  it("refuses a file that is not the SEC list, saying what to pass", () => {
    assert.throws(
      () => deriveSnapshot('{"hello": 1}', { source: "x.json", now: new Date(), derivedBy: "t" }),
      (error: unknown) => error instanceof OperatorError && error.code === "TICKERS_SOURCE_INVALID",
    );
  });

  it("normalises legal forms away from company names", () => {
    assert.equal(normaliseCompanyName("AT&T INC."), "AT&T");
    assert.equal(normaliseCompanyName("KEYCORP /NEW/"), "KEYCORP");
    assert.equal(normaliseCompanyName("The Walt Disney Company"), "WALT DISNEY");
  });

  it("ships a snapshot that loads and knows the largest listed companies", async () => {
    const shipped = await loadShippedUniverse();
    for (const symbol of ["AAPL", "MSFT", "NVDA", "BRK.B", "JPM"])
      assert.ok(shipped.symbols.has(symbol), symbol);
    assert.deepEqual(extractTickers("Nvidia and JPMorgan Chase lead; Walmart slips", shipped), [
      "NVDA",
      "JPM",
      "WMT",
    ]);
  });

  it("derives the shipped snapshot's rows from the corpus copy of the SEC list", function () {
    const corpus = path.resolve(
      import.meta.dirname,
      "../../../shared/corpus/reference/sec_company_tickers_exchange.json",
    );
    if (!existsSync(corpus)) {
      console.log(`    (skipped: ${corpus} is absent; see ../shared/corpus/README.md)`);
      this.skip();
    }
    const text = readFileSync(corpus, "utf8");
    const derived = deriveSnapshot(text, { source: "corpus", now: new Date(), derivedBy: "test" });
    const shipped = TickerSnapshot.parse(
      JSON.parse(
        readFileSync(
          path.resolve(import.meta.dirname, "../../services/sortation/data/ticker-universe.json"),
          "utf8",
        ),
      ),
    );
    assert.ok(derived.companies.length > 5_000);
    assert.ok(!derived.companies.some(([, exchange]) => exchange === "OTC"));
    if (shipped.sourceSha256 !== derived.sourceSha256) {
      // Another copy of the SEC list than the one the snapshot was derived from: nothing to
      // compare row for row. Said, and counted as pending, rather than passed without checking.
      console.log(
        `    (skipped: the corpus list hashes ${derived.sourceSha256.slice(0, 12)}, the shipped snapshot was derived from ${shipped.sourceSha256.slice(0, 12)}; opsctl tickers refresh re-derives it)`,
      );
      this.skip();
    }
    // Same source bytes (hash) give the same rows: the shipped file is derived, not edited.
    assert.deepEqual(shipped.companies, derived.companies);
  });
});
