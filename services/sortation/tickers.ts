import { readFileSync } from "node:fs";
import * as z from "zod";
import { OperatorError } from "../common/errors.ts";
import { canonicalTicker } from "../common/symbols.ts";
import nameWords from "./data/name-words.json" with { type: "json" };
import {
  ALWAYS_NAMES,
  COMMON_WORDS,
  EXTRA_ALIASES,
  FIRM_SECOND_WORDS,
  FORMER_NAMES,
  FORMER_SYMBOLS,
  FUND_WORDS,
  NOT_BARE_SYMBOLS,
  NOT_COMPANY_NAMES,
  OPTIONAL_NAME_TAIL,
  RATING_FIRMS,
  VENUES_AND_OUTLETS,
} from "./ticker-words.ts";

/**
 * Ticker attribution: the companies a headline is ABOUT (invariant 7). Four ways a headline
 * names a company, each recorded with the text it matched (`TickerEvidence`):
 *  1. cashtag: `$AAPL`, `$brk.b`;
 *  2. exchange-qualified: `NASDAQ: AAPL`, `(NYSE:XYZ)`, `NYSE American: ABC`, when the symbol is
 *     in the universe (a delisted or OTC symbol is not one we trade);
 *  3. symbol: a bare uppercase symbol (`NVDA slides`), or any symbol of a ticker list, in
 *     parentheses (`(MHS, ABC, CAH)`) or as a comma-separated run after a colon or dash; a symbol
 *     that is also a word or abbreviation (ALL, IT, EPS, ET, OI, NOV, PD of PD-L1) only in a list or
 *     followed by "shares"/"stock";
 *  4. name: a listed company's name as a proper noun, longest first, with its usual short forms
 *     (possessive, hyphenation, "&"/"and", legal and Group/Holdings/Technologies tails optional,
 *     a distinctive first word or first two words when no other listed company shares them),
 *     brand aliases, and former names of renamed companies (AmerisourceBergen → COR).
 * Former symbols resolve to today's (ABX → GOLD). Then roles: a rating firm that is the source of
 * a rating, price target, note or comment ("UBS Maintains Neutral on X", "X Cut at Baird", "Jefferies
 * Sees ... X"), a conference host, an exchange as venue and a news outlet as messenger are dropped.
 * Output is canonical (`BRK.B`), deduplicated, in order of first appearance.
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
  "AKTIENGESELLSCHAFT",
]);

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

/** A symbol in the canonical notation (`BRK.B`, see services/common/symbols.ts). */
export const normaliseSymbol = canonicalTicker;

/** How a ticker was found, and the text that found it (stored per classified row). */
export type TickerVia = "cashtag" | "exchange" | "symbol" | "name";
export interface TickerEvidence {
  readonly ticker: string;
  readonly via: TickerVia;
  readonly text: string;
}

interface NameEntry {
  readonly ticker: string;
  /** A short form made from the listed name (first word, first two words, tail dropped). */
  readonly derived: boolean;
  /** For a short form: the listed name's next word ("Abbott" → LABORATORIES, so "Abbott Labs" is Abbott). */
  readonly nextWord?: string;
  /** A hand-kept alias or former name (ticker-words.ts): never second-guessed. */
  readonly curated?: boolean;
}

export interface TickerUniverse {
  readonly symbols: ReadonlySet<string>;
  /** Compact name key (see nameKey) → ticker. */
  readonly names: ReadonlyMap<string, NameEntry>;
  /** Symbols no longer listed → today's ticker of the same company. */
  readonly formerSymbols: ReadonlyMap<string, string>;
  /** Generic words that continue a company name ("Asset", "Oil"): a short form followed by one names another company. */
  readonly continuationWords: ReadonlySet<string>;
  readonly maxNameTokens: number;
  /** Every proper prefix of a name key ("BANK", "BANK OF"): a run stops growing once it is none. */
  readonly namePrefixes: ReadonlySet<string>;
  readonly companies: TickerSnapshot["companies"];
  readonly snapshot: Pick<TickerSnapshot, "source" | "derivedAt">;
}

/** Dictionary words found in company names (data/name-words.json, derived by scripts/derive-name-words.ts). */
const DICTIONARY_WORDS: ReadonlySet<string> = new Set(nameWords.words);
const PROPER_NOUNS: ReadonlySet<string> = new Set(nameWords.properNouns);
const CONNECTORS = new Set(["OF", "AND", "THE", "DE", "DU", "DES", "LA", "Y"]);
const MAX_NAME_TOKENS = 8;

/** Name tokens → one lookup key: '&' and 'AND' dropped ("Procter & Gamble" = "PROCTER GAMBLE"). */
function nameKey(tokens: readonly string[]): string {
  return tokens.filter((token) => token !== "AND" && token !== "&").join(" ");
}

/** A name's words, split at spaces, hyphens and apostrophes, dots dropped ("Coca-Cola" = "COCA COLA"). */
const nameTokens = (name: string) =>
  name
    .toUpperCase()
    .replace(/\./g, "")
    .split(/[\s'’-]+/)
    .filter((t) => t.length > 0);

/** Words that end a company's name or follow it in a headline without naming another company. */
const HEADLINE_WORDS = new Set(
  "SHARES STOCK STOCKS EARNINGS REPORT REPORTS SALES REVENUE PRICE TARGET UP DOWN HIGHER LOWER NEW TOP TO ON IN AT FOR".split(
    " ",
  ),
);
/** Proper nouns (names, places) make short forms only for the largest companies (Toyota, Abbott). */
const PROPER_NOUN_SHORT_FORM_RANK = 400;

/** Builds the in-memory lookups from a snapshot. */
export function buildUniverse(snapshot: TickerSnapshot): TickerUniverse {
  const symbols = new Set<string>();
  const names = new Map<string, NameEntry>();
  // How many listed names use a word, anywhere and after the first word.
  const uses = new Map<string, number>();
  const laterUses = new Map<string, number>();
  const seenNames = new Set<string>();
  for (const [ticker, , name] of snapshot.companies) {
    symbols.add(normaliseSymbol(ticker));
    if (!name || seenNames.has(name)) continue;
    seenNames.add(name);
    const tokens = nameTokens(name);
    if (tokens.some((t) => FUND_WORDS.has(t))) continue; // a sponsor's 40 funds do not make its name generic
    tokens.forEach((token, index) => {
      uses.set(token, (uses.get(token) ?? 0) + 1);
      if (index > 0) laterUses.set(token, (laterUses.get(token) ?? 0) + 1);
    });
  }
  // A word is generic when it is English, finance or company-name vocabulary, or in 5+ listed names.
  const english = (token: string) => COMMON_WORDS.has(token) || DICTIONARY_WORDS.has(token);
  const generic = (token: string) => english(token) || (uses.get(token) ?? 0) >= 5;
  const continuationWords = new Set<string>();
  for (const [token, count] of laterUses) {
    if (
      count >= 3 &&
      (COMMON_WORDS.has(token) || OPTIONAL_NAME_TAIL.has(token)) &&
      !HEADLINE_WORDS.has(token)
    ) {
      continuationWords.add(token);
    }
  }
  // A one-word name that is a proper noun of the dictionary (a given name: "Tim" of TIM S.A.) needs
  // five letters or a large company behind it.
  const fullWordAllowed = (token: string, rank: number) =>
    ALWAYS_NAMES.has(token) ||
    (token.length >= 3 &&
      !english(token) &&
      !/^\d+$/.test(token) &&
      (!PROPER_NOUNS.has(token) || token.length >= 5 || rank < PROPER_NOUN_SHORT_FORM_RANK));
  const shortWordAllowed = (token: string, rank: number, minLength: number) =>
    ALWAYS_NAMES.has(token) ||
    (token.length >= minLength &&
      !generic(token) &&
      !/^\d+$/.test(token) &&
      (rank < PROPER_NOUN_SHORT_FORM_RANK || !PROPER_NOUNS.has(token)));
  // A short form of two generic words ("New Jersey" of New Jersey Resources) is a phrase, not a name.
  const phrase = (tokens: readonly string[]) => {
    const content = tokens.filter((t) => !CONNECTORS.has(t));
    return content.length <= 2 && content.every((t) => COMMON_WORDS.has(t));
  };

  // 1. Full listed names; the SEC list is ordered by size, so the first ticker of a name wins.
  const derivedCandidates = new Map<
    string,
    { ticker: string; owners: Set<string>; nextWord: string | undefined }
  >();
  const propose = (key: string, ticker: string, owner: string, nextWord: string | undefined) => {
    const known = derivedCandidates.get(key);
    if (known) known.owners.add(owner);
    else derivedCandidates.set(key, { ticker, owners: new Set([owner]), nextWord });
  };
  snapshot.companies.forEach(([rawTicker, , name], rank) => {
    if (!name) return;
    const ticker = normaliseSymbol(rawTicker);
    const all = nameTokens(name);
    const tokens = all.slice(0, MAX_NAME_TOKENS);
    const key = nameKey(tokens);
    if (tokens.length === 1 ? fullWordAllowed(key, rank) : key.length > 0) {
      if (!names.has(key)) names.set(key, { ticker, derived: false });
    } else if (tokens.length === 1) {
      // "Target Corp", "Visa Inc.": with its legal form, a word is the company's name.
      for (const suffix of ["INC", "CORP", "CORPORATION", "CO", "LTD", "PLC"]) {
        if (!names.has(`${key} ${suffix}`)) names.set(`${key} ${suffix}`, { ticker, derived: false });
      }
    }
    if (all.some((t) => FUND_WORDS.has(t))) return; // funds and ETPs: full names only
    // 2. Short forms, kept only when no other listed name makes the same one.
    const shortForm = (words: readonly string[]) => {
      if (words.length === 0 || words.length === tokens.length) return;
      if (words.length === 1 ? !shortWordAllowed(words[0] ?? "", rank, 4) : phrase(words)) return;
      propose(nameKey(words), ticker, name, tokens[words.length]);
    };
    const of = tokens.indexOf("OF"); // "Expeditors International of Washington"
    for (const base of of >= 2 ? [tokens, tokens.slice(0, of)] : [tokens]) {
      const trimmed = [...base];
      while (trimmed.length > 1 && OPTIONAL_NAME_TAIL.has(trimmed[trimmed.length - 1] ?? "")) trimmed.pop();
      if (base !== tokens) shortForm(base);
      shortForm(trimmed);
    }
    // "Bain Capital", "Greenlight Capital": a first word plus a firm word is usually another firm.
    if (tokens.length >= 3 && !CONNECTORS.has(tokens[1] ?? "") && !FIRM_SECOND_WORDS.has(tokens[1] ?? "")) {
      shortForm(tokens.slice(0, 2));
    }
    if (tokens.length >= 2 && (tokens[0]?.length ?? 0) >= 5) shortForm(tokens.slice(0, 1));
  });
  for (const [key, { ticker, owners, nextWord }] of derivedCandidates) {
    if (owners.size === 1 && !names.has(key)) {
      names.set(
        key,
        nextWord === undefined ? { ticker, derived: true } : { ticker, derived: true, nextWord },
      );
    }
  }
  // 3. Hand-kept aliases and former names, when their ticker is listed.
  for (const table of [EXTRA_ALIASES, FORMER_NAMES]) {
    for (const [alias, ticker] of Object.entries(table)) {
      if (symbols.has(ticker))
        names.set(nameKey(nameTokens(alias)), { ticker, derived: false, curated: true });
    }
  }
  for (const name of NOT_COMPANY_NAMES) names.delete(nameKey(nameTokens(name.replace(/_/g, " "))));
  const formerSymbols = new Map<string, string>();
  for (const [old, ticker] of Object.entries(FORMER_SYMBOLS)) {
    if (symbols.has(ticker) && !symbols.has(old)) formerSymbols.set(old, ticker);
  }
  const namePrefixes = new Set<string>();
  for (const key of names.keys()) {
    const parts = key.split(" ");
    for (let n = 1; n < parts.length; n++) namePrefixes.add(parts.slice(0, n).join(" "));
  }
  let maxNameTokens = 1;
  for (const [, , name] of snapshot.companies) {
    maxNameTokens = Math.max(maxNameTokens, Math.min(MAX_NAME_TOKENS, nameTokens(name).length));
  }
  return {
    symbols,
    names,
    formerSymbols,
    continuationWords,
    maxNameTokens,
    namePrefixes,
    companies: snapshot.companies,
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

/**
 * Only the first MAX_TEXT_CHARS characters are read: headlines are under 300, summaries are cut
 * to 1,000 by the worker, and a 1 MB "headline" must cost bounded time, not a stalled worker.
 */
export const MAX_TEXT_CHARS = 2_000;

const EXCHANGES =
  "NASDAQ(?:GS|GM|CM)?|NYSE\\s+AMERICAN|NYSE\\s+ARCA|NYSE\\s+MKT|NYSEAMERICAN|NYSEARCA|NYSE|AMEX|CBOE|BATS|OTC(?:QX|QB|BB)?|OTC\\s+Markets";
const SYMBOL = "[A-Za-z]{1,5}(?:[./-][A-Za-z]{1,2})?";
const CASHTAG = new RegExp(`(?<![A-Za-z0-9$])\\$(${SYMBOL})(?![A-Za-z0-9])`, "g");
const QUALIFIED = new RegExp(`\\b(${EXCHANGES})\\s*:\\s*(${SYMBOL})(?![A-Za-z0-9])`, "gi");
const BARE = /(?<![A-Za-z0-9$&'’./-])([A-Z]{1,5}(?:[.-][A-Z]{1,2})?)(?![A-Za-z0-9&'’]|[.-][A-Za-z0-9])/g;
const LIST_ITEM = "[A-Z]{1,5}(?:[.-][A-Z]{1,2})?";
/** A run of three or more comma-separated symbols: "ITT, FO, ABB, TYC" or "PCLN, STEC and TNDM". */
const LIST_RUN = new RegExp(
  `(?<![A-Za-z0-9])${LIST_ITEM}(?:(?:\\s*,\\s*(?:and\\s+)?|\\s+and\\s+)${LIST_ITEM}(?![A-Za-z0-9])){2,}`,
  "g",
);
/** Parentheses holding only symbols: "(AAN)", "(MHS, ABC, CAH, MCK)". */
const PAREN_LIST = new RegExp(`\\(\\s*(${LIST_ITEM}(?:\\s*[,;/]\\s*(?:and\\s+)?${LIST_ITEM})*)\\s*\\)`, "g");
const WORDS = /[A-Za-z0-9]+(?:[&'’.-][A-Za-z0-9]+)*(?:['’]s?)?/g;
// C0/C1 controls and the Unicode line/paragraph separators: read as spaces.
const CONTROLS = /[\p{Cc}\u2028\u2029]/gu;

// Active voice only: "UBS Upgrades X" makes UBS the source, "X Upgraded At UBS" makes X the subject.
const STRONG_RATING_VERB =
  /^(?:maintains|maintaining|upgrades|upgrading|upgrade|downgrades|downgrading|downgrade|initiates|initiating|initiate|reiterates|reiterating|reinstates|resumes|assumes)\b/i;
const OTHER_RATING_VERB =
  /^(?:raises|raising|lowers|lowering|cuts|cutting|boosts|lifts|trims|hikes|moves|sets|removes|adds|puts|places|keeps|starts|launches|recaps|previews|digs|goes|out with|defends|recommends|likes|favors|prefers|bullish|bearish|positive|negative|cautious|weighs|upbeat|remains|stays|increases|reduces|slashes|ups|picks)\b/i;
const SPEECH_VERB =
  /^(?:says|sees|notes|comments|believes|expects|thinks|questions|warns|highlights|discusses|tells|told|argues|explains|writes|estimates|calls)\b/i;
/** What may stand between a firm's name and its verb: "Capital Markets", "ISI Group", "'s analysts". */
const FIRM_TAIL =
  /^(?:['’]s)?\s*(?:(?:(?:capital\s+markets|capital|securities|global\s+research|equity\s+research|research|markets|isi\s+group|isi|group|&\s*co|&\s*company|and\s+company|nicolaus|robinson\s+humphrey|genuity|analysts?|investment\s+bank|global\s+investment\s+research|wealth\s+management|inc)(?![A-Za-z])\.?|,)\s*)*/i;
const RATING_WORDS =
  /\b(?:buy|sell|hold|neutral|outperform|underperform|overweight|underweight|equal[- ]?weight|market\s+perform|sector\s+perform|peer\s+perform|perform|in-?line|accumulate|reduce|conviction|coverage|rating|rated|PT|price\s+target|target|upgrade|downgrade)\b/i;
const PT_WORDS = /\b(?:PT|price\s+target|target|estimates?|rating|coverage)\b/i;
const SOURCE_BEFORE =
  /\b(?:at|by|from|per|via|according\s+to|with|says|said|cites|citing|tells|told|reports|reported)\s+(?:the\s+)?$/i;
/** "Goldman Sachs Healthcare Conference" (the host), not "X To Present At the Y Conference" (X presents). */
const CONFERENCE_AFTER =
  /^(?:['’]s)?(?:\s+(?!(?:to|at|in|on|for|from|with|and|will|present\w*|attend\w*|host\w*|speak\w*|webcast\w*)\b)[A-Za-z0-9&][\w&.'’-]*){0,6}?\s+(?:conference(?!\s+call)|forum|summit|symposium)\b/i;
/** After an exchange's or outlet's name: the news is about the company itself. */
const CORPORATE_AFTER =
  /^(?:['’]s)?\s*(?:,?\s*(?:inc|corp|group|omx|global\s+markets|holdings)\.?\s*)?(?:reports?|q[1-4]|eps|shares|stock|to\s+acquire|acquires|acquisition|announces|names|raises|lowers|sees|files|prices|ceo|cfo|sales|revenue|dividend|buyback|upgraded|downgraded|earnings|beats|misses|to\s+buy|buys|agrees|completes|stake)\b/i;
const STAKE_AFTER =
  /^\s+(?:reporting|reports|discloses|disclosed|shows|takes|took|has|holds|with)?\s*(?:a\s+)?(?:new\s+)?[\d.]+%\s+(?:passive\s+|active\s+)?stake\b/i;
const FUND_SPONSOR_BEFORE =
  /\b(?:iShares|SPDR|Vanguard|ProShares|Invesco|Direxion|WisdomTree|VanEck|Global X|Xtrackers)\s+$/i;
const LEAD_IN = /^(?:\s*(?:UPDATE|BREAKING|HEARING|FROM EARLIER|EARLIER|EXCLUSIVE)\s*:?)*\s*$/i;

const MEDIA_WORDS = new Set([
  "NEWS",
  "NETWORK",
  "NETWORKS",
  "TELEVISION",
  "TV",
  "RADIO",
  "STUDIOS",
  "SPORTS",
]);

interface Mention {
  start: number;
  end: number;
  ticker: string;
  via: TickerVia;
  text: string;
}

/** True when most letters are capitals: such a headline's uppercase words say nothing. */
function shouting(text: string): boolean {
  const letters = text.replace(/[^A-Za-z]/g, "");
  if (letters.length < 12) return false;
  const upper = letters.replace(/[^A-Z]/g, "").length;
  return upper / letters.length > 0.6;
}

const overlaps = (spans: readonly { start: number; end: number }[], start: number, end: number) =>
  spans.some((s) => start < s.end && end > s.start);

function resolveSymbol(raw: string, universe: TickerUniverse): string | undefined {
  const symbol = normaliseSymbol(raw);
  if (universe.symbols.has(symbol)) return symbol;
  return universe.formerSymbols.get(symbol);
}

interface Token {
  start: number;
  end: number;
  key: string;
  /** The key with a possessive's S kept ("McDonald's" → MCDONALDS), when the token had one. */
  alt: string | undefined;
  proper: boolean;
  connector: boolean;
  /** Joined to the previous token within one word ("Coca-Cola", "O'Reilly"). */
  sameWord: boolean;
}

function tokenise(text: string): Token[] {
  const tokens: Token[] = [];
  for (const match of text.matchAll(WORDS)) {
    const raw = match[0];
    const possessive = /['’]s?$/i.exec(raw);
    const stem = possessive ? raw.slice(0, possessive.index) : raw;
    const pieces = [...stem.matchAll(/[^'’-]+/g)];
    pieces.forEach((piece, index) => {
      const start = match.index + piece.index;
      const key = piece[0].toUpperCase().replace(/\./g, "");
      const last = index === pieces.length - 1;
      tokens.push({
        start,
        end: start + piece[0].length,
        key,
        alt: last && possessive && /s$/i.test(possessive[0]) ? `${key}S` : undefined,
        proper: /^(?:[A-Z0-9]|[a-z][A-Z])/.test(piece[0]), // "eBay", "iRobot" too
        connector: CONNECTORS.has(key),
        sameWord: index > 0,
      });
    });
  }
  return tokens;
}

/** Only spaces, '&' or '+' between two words of one name; a comma, colon, dash or bracket ends it. */
const joins = (text: string, from: number, to: number) => /^[\s&+]*$/.test(text.slice(from, to));
const LEGAL_TAIL = new Set([...OPTIONAL_NAME_TAIL, ...NAME_SUFFIXES]);

function findNames(
  text: string,
  universe: TickerUniverse,
  skip: readonly { start: number; end: number }[],
): Mention[] {
  const tokens = tokenise(text);
  const found: Mention[] = [];
  const follows = (previous: Token, token: Token) => token.sameWord || joins(text, previous.end, token.start);
  for (let i = 0; i < tokens.length; ) {
    const first = tokens[i];
    if (!first?.proper || first.connector || first.sameWord || overlaps(skip, first.start, first.end)) {
      i += 1;
      continue;
    }
    // Keys of the runs starting here, one word longer each time.
    const keys: string[] = [];
    let key = "";
    for (let j = i; j < tokens.length && j - i < universe.maxNameTokens; j++) {
      const token = tokens[j];
      const previous = tokens[j - 1];
      if (!token) break;
      if (j > i) {
        if (!previous || !follows(previous, token)) break;
        if (!token.proper && !token.connector && !token.sameWord) break;
      }
      if (token.key !== "AND") key = key ? `${key} ${token.key}` : token.key;
      keys.push(key);
      // A possessive ends a name ("Apple's"), and no name goes on from a key that starts none.
      if (token.alt !== undefined || !universe.namePrefixes.has(key)) break;
    }
    let matched = 0;
    for (let n = keys.length; n >= 1; n--) {
      const end = tokens[i + n - 1];
      const next = tokens[i + n];
      if (!end || end.connector || next?.sameWord) continue; // never half of "Coca-Cola"
      const full = keys[n - 1] ?? "";
      let entry = universe.names.get(full);
      if (!entry && end.alt !== undefined)
        entry = universe.names.get(full.slice(0, full.length - end.key.length) + end.alt);
      if (!entry) continue;
      // "Altisource Asset Management" is not Altisource Portfolio; "Avalon Laboratories" is not Avalon Holdings.
      if (
        !entry.curated &&
        (entry.derived ||
          (n === 1 && !ALWAYS_NAMES.has(full) && (DICTIONARY_WORDS.has(full) || PROPER_NOUNS.has(full)))) &&
        next?.proper &&
        follows(end, next) &&
        universe.continuationWords.has(next.key) &&
        !LEGAL_TAIL.has(next.key) &&
        // an abbreviation of the name's own next word ("Labs") continues the same company
        !(
          entry.nextWord !== undefined &&
          entry.nextWord !== next.key &&
          entry.nextWord.slice(0, 3) === next.key.slice(0, 3)
        )
      ) {
        continue;
      }
      found.push({
        start: first.start,
        end: end.end,
        ticker: entry.ticker,
        via: "name",
        text: text.slice(first.start, end.end),
      });
      matched = n;
      break;
    }
    i += Math.max(1, matched);
  }
  return found;
}

/** Parenthesised symbol lists and comma-separated symbol runs. */
function listSpans(text: string): { start: number; end: number }[] {
  const spans: { start: number; end: number }[] = [];
  for (const match of text.matchAll(PAREN_LIST))
    spans.push({ start: match.index, end: match.index + match[0].length });
  for (const match of text.matchAll(LIST_RUN))
    spans.push({ start: match.index, end: match.index + match[0].length });
  return spans;
}

/** Decides whether a mention is the source of someone else's news (or a venue), not a subject. */
function isNotSubject(mention: Mention, mentions: readonly Mention[], text: string): boolean {
  const before = text.slice(Math.max(0, mention.start - 40), mention.start);
  const after = text.slice(mention.end, mention.end + 160);
  const others = mentions.filter((m) => m.ticker !== mention.ticker);
  const laterOther = others.some((m) => m.start >= mention.end);
  const firm = RATING_FIRMS.has(mention.ticker);
  const verb = after.replace(FIRM_TAIL, "");
  if (STRONG_RATING_VERB.test(verb) && (firm || laterOther || RATING_WORDS.test(verb))) return true;
  if (
    OTHER_RATING_VERB.test(verb) &&
    ((laterOther && (firm || PT_WORDS.test(verb))) || (firm && RATING_WORDS.test(verb)))
  ) {
    return true;
  }
  if (firm && SPEECH_VERB.test(verb) && (others.length > 0 || /^\w+\W*$/.test(verb))) return true; // "..., Barclays Says"
  if (FUND_SPONSOR_BEFORE.test(before)) return true; // "iShares MSCI ...": an index in a fund's name
  if (firm && SOURCE_BEFORE.test(before) && (others.length > 0 || RATING_WORDS.test(text))) return true;
  if (firm && others.length > 0 && /^\s*:/.test(after) && LEAD_IN.test(text.slice(0, mention.start)))
    return true;
  if (firm && others.length > 0 && /^['’]s\s+[A-Z][a-z]+\b/.test(after)) return true;
  if (/^(?:['’]s)?\s+analysts?\b(?!\s+(?:day|meeting|event|blog|conference))/i.test(after)) return true;
  if (CONFERENCE_AFTER.test(after)) return true;
  if (STAKE_AFTER.test(after) && others.length === 0) return true; // "Sprott Reporting 5.6% Stake In X": the holder
  if (VENUES_AND_OUTLETS.has(mention.ticker) && mention.via === "name" && !CORPORATE_AFTER.test(after))
    return true;
  return false;
}

/** Replaces control characters and cuts to MAX_TEXT_CHARS: what every extraction reads. */
export function sanitiseText(text: string): string {
  return text.slice(0, MAX_TEXT_CHARS).replace(CONTROLS, " ");
}

/** The tickers a headline is about, each with how it was found, in order of first appearance. Pure. */
export function findTickers(input: string, universe: TickerUniverse): TickerEvidence[] {
  const text = sanitiseText(input);
  const mentions: Mention[] = [];
  const add = (start: number, end: number, ticker: string, via: TickerVia) =>
    mentions.push({ start, end, ticker, via, text: text.slice(start, end) });

  for (const match of text.matchAll(CASHTAG)) {
    const ticker = resolveSymbol(match[1] ?? "", universe);
    if (ticker) add(match.index, match.index + match[0].length, ticker, "cashtag");
  }
  for (const match of text.matchAll(QUALIFIED)) {
    const ticker = resolveSymbol(match[2] ?? "", universe);
    const end = match.index + match[0].length;
    // Only symbols of the universe (or their former symbols): "(NYSE: AAN)" in an old headline is
    // a company delisted since, and an OTC symbol is not one we trade. A new listing counts once
    // `opsctl tickers refresh` has brought it into the snapshot.
    if (ticker) add(match.index, end, ticker, "exchange");
  }
  const lists = listSpans(text);
  const taken = () => mentions.map((m) => ({ start: m.start, end: m.end }));
  for (const mention of findNames(text, universe, [...lists, ...taken()])) mentions.push(mention);

  let unlisted = text;
  for (const span of lists)
    unlisted = unlisted.slice(0, span.start) + " ".repeat(span.end - span.start) + unlisted.slice(span.end);
  const loud = shouting(unlisted);
  const covered = taken();
  for (const match of text.matchAll(BARE)) {
    const raw = match[1] ?? "";
    const start = match.index;
    const end = start + raw.length;
    if (overlaps(covered, start, end)) continue;
    const ticker = resolveSymbol(raw, universe);
    if (!ticker) continue;
    const inList = overlaps(lists, start, end);
    // "Agnico Eagle Mines Ltd (USA)": a lone word in brackets after another company's name is not its symbol.
    if (
      inList &&
      NOT_BARE_SYMBOLS.has(normaliseSymbol(raw)) &&
      /^\(\s*$/.test(text.slice(Math.max(0, start - 2), start).trimStart())
    ) {
      const previous = mentions.filter((m) => m.end <= start).at(-1);
      if (
        previous &&
        previous.ticker !== ticker &&
        /^[\s,.]*(?:inc|corp|ltd|plc|co)?[\s,.]*\($/i.test(text.slice(previous.end, start))
      )
        continue;
    }
    if (!inList) {
      if (loud) continue;
      const symbol = normaliseSymbol(raw);
      const stockWord = /^\s+(?:shares|stock|stocks)\b/i.test(text.slice(end, end + 12));
      if ((NOT_BARE_SYMBOLS.has(symbol) || symbol.length < 3) && !stockWord) continue;
      // "EIG Global Energy Partners": the symbol-like word starts another firm's name.
      const nextWord = /^\s+([A-Z][A-Za-z]*)/.exec(text.slice(end, end + 30))?.[1]?.toUpperCase();
      if (nextWord && universe.continuationWords.has(nextWord) && !NAME_SUFFIXES.has(nextWord)) continue;
      // "ABC News", "CBS Television": a broadcaster's name, not the symbol.
      if (nextWord && MEDIA_WORDS.has(nextWord)) continue;
    }
    add(start, end, ticker, "symbol");
  }

  mentions.sort((a, b) => a.start - b.start);
  const kept = mentions.filter((mention) => !isNotSubject(mention, mentions, text));
  const seen = new Set<string>();
  const out: TickerEvidence[] = [];
  for (const { ticker, via, text: matched } of kept) {
    if (seen.has(ticker)) continue;
    seen.add(ticker);
    out.push({ ticker, via, text: matched });
  }
  return out;
}

/** Tickers a headline is about, canonical, in order of first appearance. Pure. */
export function extractTickers(text: string, universe: TickerUniverse): string[] {
  return findTickers(text, universe).map((evidence) => evidence.ticker);
}
