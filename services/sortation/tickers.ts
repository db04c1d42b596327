import { readFileSync } from "node:fs";
import * as z from "zod";
import { OperatorError } from "../common/errors.ts";

/**
 * Ticker extraction. Four ways a headline names a company, strongest first:
 *  1. cashtags: `$AAPL`, `$brk.b`;
 *  2. exchange-qualified: `NASDAQ: AAPL`, `(NYSE:XYZ)`, `NYSE American: ABC`;
 *  3. a bare uppercase symbol in a headline that is not itself all caps (`NVDA slides`), but a
 *     symbol that is also an English word or common acronym (ALL, IT, A, ON, CEO) only with
 *     context: in parentheses right after a name (`Gartner (IT)`) or followed by "shares"/"stock";
 *  4. a company name from the ticker universe, written as a proper noun (`Apple`, `Bank of America`).
 * Forms 1-3 resolve against the universe too, except exchange-qualified symbols, which are taken
 * as written (the headline says exactly what it means). Output is uppercase, deduplicated, in
 * order of first appearance: the `tickers text[]` column of inbound_events_classified.
 */

/** The snapshot shipped in data/ and written by `opsctl tickers refresh`. */
export const TickerSnapshot = z.object({
  format: z.literal(1),
  /** Where the rows came from (URL or file) and its sha256, for provenance. */
  source: z.string(),
  sourceSha256: z.string(),
  derivedAt: z.string(),
  derivedBy: z.string(),
  note: z.string(),
  exchanges: z.array(z.string()),
  /** [ticker, exchange, normalised name] */
  companies: z.array(z.tuple([z.string(), z.string(), z.string()])),
});
export type TickerSnapshot = z.infer<typeof TickerSnapshot>;

/** Listed on an exchange the signal engine can trade; OTC and unlisted rows are left out. */
export const LISTED_EXCHANGES = ["Nasdaq", "NYSE", "CBOE"] as const;

/** Legal-form words dropped from the end of a company name ("APPLE INC." → "APPLE"). */
const NAME_SUFFIXES = new Set([
  "INC",
  "INCORPORATED",
  "CORP",
  "CORPORATION",
  "CO",
  "COMPANY",
  "LTD",
  "LIMITED",
  "PLC",
  "LLC",
  "LP",
  "L",
  "P",
  "SA",
  "S",
  "A",
  "NV",
  "N",
  "V",
  "AG",
  "SE",
  "HOLDINGS",
  "HOLDING",
  "COM",
  "THE",
  "DE",
  "NEW",
  "ADR",
  "TRUST",
  "CLASS",
  "CL",
  "SPA",
  "AB",
  "ASA",
  "OYJ",
]);

/**
 * English words and acronyms that are also tickers or would make poor name aliases. A symbol
 * here needs context (form 3), and a one-word company name or first-word alias here is never
 * matched alone (Target, Visa and Block stay matchable only through their symbols).
 */
export const AMBIGUOUS_WORDS = new Set(
  (
    "A I ALL ARE IT ON NOW CAT KEY GOOD AN AS AT BE BY DO GO HE IF IN IS ME MY NO OF OK OR SO TO UP US WE " +
    "AI EV CEO CFO CTO COO IPO ETF GDP CPI PPI FED SEC FDA FTC DOJ EPA IRS USA EU UK UN US USD EUR GBP API " +
    "OPEN BIG CAN FOR ONE TWO OUT NEW HAS SEE REAL LOVE PLAY FUN FLY CASH BILL TRUE LIFE SAFE MAIN WELL " +
    "HOME BEST FAST LOW HIGH HOT GOLD OIL GAS AIR SUN SKY CAR BUY SELL HOLD RUN TOP WIN JOB JOBS AGO " +
    "TARGET VISA BLOCK MATCH SNAP GAP BALL CARE COST EDIT FIVE FORM GLOBAL GENERAL AMERICAN FIRST UNITED " +
    "NATIONAL INTERNATIONAL CAPITAL FINANCIAL ENERGY BANK TECHNOLOGIES TECHNOLOGY SYSTEMS RESOURCES " +
    "PACIFIC SOUTHERN NORTHERN WESTERN EASTERN CENTRAL SERVICES INDUSTRIES PARTNERS PROPERTIES " +
    "REALTY THERAPEUTICS PHARMACEUTICALS BIO HEALTH MEDICAL DIGITAL DATA CLOUD POWER WATER STAR " +
    "APPLE AMAZON ORACLE SHELL UBER ZOOM ROCKET PROGRESSIVE DOMINION CITIZENS REGIONS TRAVELERS " +
    "PRINCIPAL PRUDENTIAL SOUTHWEST FRONTIER SPIRIT ALLIANCE SELECT ADVANCE PREMIER PRIME SIGNAL " +
    "TODAY WEEK YEAR MARKET MARKETS STOCK STOCKS SHARES DEAL NEWS REPORT Q1 Q2 Q3 Q4 FY"
  ).split(/\s+/),
);
// Apple, Amazon and the like are listed above so that no other company's first word can stand
// for them; their own one-word names stay matchable through this set.
const ALWAYS_NAMES = new Set(["APPLE", "AMAZON", "ORACLE", "SHELL", "UBER", "ZOOM"]);

/** Hand-kept names the SEC list does not carry (brands better known than the registrant). */
const EXTRA_ALIASES: Readonly<Record<string, string>> = {
  GOOGLE: "GOOGL",
  FACEBOOK: "META",
  "J P MORGAN": "JPM",
  JPMORGAN: "JPM",
  WALMART: "WMT",
  "COCA COLA": "KO",
  "COCA-COLA": "KO",
  DISNEY: "DIS",
  "GOLDMAN SACHS": "GS",
  "MORGAN STANLEY": "MS",
  BOEING: "BA",
  NETFLIX: "NFLX",
};

/** Uppercase tokens of a company name, legal-form suffixes dropped ("ELI LILLY & Co" → "ELI LILLY"). */
export function normaliseCompanyName(name: string): string {
  const tokens =
    name
      .toUpperCase()
      .replace(/\/[A-Z]{1,4}\/?/g, " ")
      .match(/[A-Z0-9]+(?:[&'-][A-Z0-9]+)*/g) ?? [];
  while (tokens.length > 1 && NAME_SUFFIXES.has(tokens[tokens.length - 1] ?? "")) tokens.pop();
  while (tokens.length > 1 && tokens[0] === "THE") tokens.shift();
  return tokens.join(" ");
}

/** SEC symbols use '-' for share classes (BRK-B); headlines write BRK.B or BRK/B. */
export function normaliseSymbol(symbol: string): string {
  return symbol.toUpperCase().replace(/[./]/g, "-");
}

export interface TickerUniverse {
  readonly symbols: ReadonlySet<string>;
  /** Normalised name (or alias) → ticker. */
  readonly names: ReadonlyMap<string, string>;
  readonly maxNameTokens: number;
  readonly snapshot: Pick<TickerSnapshot, "source" | "derivedAt">;
}

/** Builds the in-memory lookups from a snapshot. */
export function buildUniverse(snapshot: TickerSnapshot): TickerUniverse {
  const symbols = new Set<string>();
  const names = new Map<string, string>();
  const firstWords = new Map<string, string | null>();
  for (const [ticker, , name] of snapshot.companies) {
    symbols.add(ticker);
    if (!name) continue;
    const tokens = name.split(" ");
    // The SEC list is ordered by size: the first ticker of a name (GOOGL before GOOG) wins.
    if (tokens.length > 1 || !AMBIGUOUS_WORDS.has(name) || ALWAYS_NAMES.has(name)) {
      if (!names.has(name) && !(tokens.length === 1 && name.length < 3)) names.set(name, ticker);
    }
    // A distinctive first word stands for the company ("NVIDIA", "BERKSHIRE"), but only when no
    // other listed company starts with it.
    const first = tokens[0] ?? "";
    if (tokens.length > 1 && first.length >= 5 && !AMBIGUOUS_WORDS.has(first)) {
      firstWords.set(first, firstWords.has(first) && firstWords.get(first) !== ticker ? null : ticker);
    }
  }
  for (const [word, ticker] of firstWords) if (ticker && !names.has(word)) names.set(word, ticker);
  for (const [alias, ticker] of Object.entries(EXTRA_ALIASES)) {
    if (symbols.has(ticker)) names.set(normaliseCompanyName(alias), ticker);
  }
  let maxNameTokens = 1;
  for (const name of names.keys()) maxNameTokens = Math.max(maxNameTokens, name.split(" ").length);
  return {
    symbols,
    names,
    maxNameTokens,
    snapshot: { source: snapshot.source, derivedAt: snapshot.derivedAt },
  };
}

function parseSnapshot(parsed: unknown, where: string): TickerUniverse {
  const result = TickerSnapshot.safeParse(parsed);
  if (!result.success) {
    throw new OperatorError("TICKERS_SNAPSHOT_INVALID", `${where} is not a ticker snapshot`, {
      hint: "regenerate it with `opsctl tickers refresh`",
      cause: result.error,
    });
  }
  return buildUniverse(result.data);
}

/**
 * Reads a snapshot file (OPS_SORTATION_TICKERS_FILE).
 * @throws OperatorError TICKERS_SNAPSHOT_INVALID when the file is missing or malformed.
 */
export function loadUniverse(file: string): TickerUniverse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new OperatorError("TICKERS_SNAPSHOT_INVALID", `cannot read the ticker snapshot ${file}`, {
      hint: "run `opsctl tickers refresh --from FILE --out FILE` or unset OPS_SORTATION_TICKERS_FILE",
      cause,
    });
  }
  return parseSnapshot(parsed, file);
}

/**
 * The snapshot shipped in data/. Imported as a JSON module, not read by path, so that bundles
 * (the CLI's esbuild output, the Fargate image) carry it along.
 * @throws OperatorError TICKERS_SNAPSHOT_INVALID when the shipped file is malformed.
 */
export async function loadShippedUniverse(): Promise<TickerUniverse> {
  const { default: data } = await import("./data/ticker-universe.json", { with: { type: "json" } });
  return parseSnapshot(data, "services/sortation/data/ticker-universe.json");
}

const EXCHANGES =
  "NASDAQ|NYSE\\s+AMERICAN|NYSE\\s+ARCA|NYSEAMERICAN|NYSEARCA|NYSE|AMEX|CBOE|BATS|OTC(?:QX|QB)?";
const SYMBOL = "[A-Za-z]{1,5}(?:[./-][A-Za-z]{1,2})?";
const CASHTAG = new RegExp(`(?<![A-Za-z0-9$])\\$(${SYMBOL})(?![A-Za-z0-9])`, "g");
const QUALIFIED = new RegExp(`\\b(?:${EXCHANGES})\\s*:\\s*(${SYMBOL})(?![A-Za-z0-9])`, "gi");
const BARE = /(?<![A-Za-z0-9$&'./-])([A-Z]{1,5}(?:[.-][A-Z]{1,2})?)(?![A-Za-z0-9&'])/g;
const WORDS = /[A-Za-z0-9]+(?:[&'-][A-Za-z0-9]+)*/g;

/** True when most letters are capitals: such a headline's uppercase words say nothing. */
function shouting(text: string): boolean {
  const letters = text.replace(/[^A-Za-z]/g, "");
  if (letters.length < 12) return false;
  const upper = letters.replace(/[^A-Z]/g, "").length;
  return upper / letters.length > 0.6;
}

/** Tickers a headline is about, uppercase, in order of first appearance. Pure. */
export function extractTickers(text: string, universe: TickerUniverse): string[] {
  const found: { index: number; ticker: string }[] = [];
  const add = (index: number, ticker: string) => found.push({ index, ticker });

  for (const match of text.matchAll(CASHTAG)) {
    const symbol = normaliseSymbol(match[1] ?? "");
    if (universe.symbols.has(symbol)) add(match.index, symbol);
  }
  for (const match of text.matchAll(QUALIFIED)) {
    add(match.index, normaliseSymbol(match[1] ?? ""));
  }
  if (!shouting(text)) {
    for (const match of text.matchAll(BARE)) {
      const symbol = normaliseSymbol(match[1] ?? "");
      if (!universe.symbols.has(symbol)) continue;
      const before = text.slice(0, match.index);
      const after = text.slice(match.index + (match[1]?.length ?? 0));
      if (
        before.endsWith("$") ||
        /\b(?:NASDAQ|NYSE|AMEX|CBOE|BATS|OTC\w*|AMERICAN|ARCA)\s*:\s*$/i.test(before)
      ) {
        continue; // already taken as a cashtag or exchange-qualified symbol
      }
      if (AMBIGUOUS_WORDS.has(symbol) || symbol.length < 2) {
        const inParens = /\(\s*$/.test(before) && /^\s*\)/.test(after);
        const stockWord = /^\s+(?:shares|stock|stocks)\b/i.test(after);
        if (!inParens && !stockWord) continue;
      }
      add(match.index, symbol);
    }
  }
  // Company names: proper-noun word runs (each word capitalised), longest match first.
  const words = [...text.matchAll(WORDS)].map((match) => ({
    word: match[0],
    upper: match[0].toUpperCase(),
    index: match.index,
    proper: /^[A-Z0-9]/.test(match[0]),
  }));
  for (let i = 0; i < words.length; ) {
    let matched = 0;
    for (let n = Math.min(universe.maxNameTokens, words.length - i); n >= 1; n--) {
      const run = words.slice(i, i + n);
      // Small connecting words inside a name ("Bank of America") may be lower case.
      if (!run[0]?.proper || !run.every((w) => w.proper || /^(?:of|and|the|&)$/i.test(w.word))) continue;
      const ticker = universe.names.get(run.map((w) => w.upper).join(" "));
      if (ticker) {
        add(run[0].index, ticker);
        matched = n;
        break;
      }
    }
    i += Math.max(1, matched);
  }
  found.sort((a, b) => a.index - b.index);
  return [...new Set(found.map((f) => f.ticker))];
}
