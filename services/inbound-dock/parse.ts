import Parser from "rss-parser";
import { sanitise, stripDeclarations } from "./sanitise.ts";

/** One item as the document states it, before normalising. */
export interface ParsedItem {
  title: string | undefined;
  link: string | undefined;
  guid: string | undefined;
  /** The date text as written (pubDate, dc:date, updated, published). */
  date: string | undefined;
  summary: string | undefined;
}

export interface ParsedFeed {
  title: string | undefined;
  link: string | undefined;
  items: ParsedItem[];
  /** What the sanitiser changed to make the document parse; empty for a clean feed. */
  repairs: string[];
  /** RSS 2.0 channel <ttl> as written (minutes); schedule.ts reads it. */
  ttl?: string | undefined;
}

/** The document is not a feed (an HTML page, another XML vocabulary, empty). */
export class NotAFeedError extends Error {
  override readonly name = "NotAFeedError";
}

/** The document looks like a feed but could not be parsed even after sanitising. */
export class FeedParseError extends Error {
  override readonly name = "FeedParseError";
}

type RawItem = Record<string, unknown>;

// defaultRSS 2: `<rss>` without a version attribute (common in the wild) is read as RSS 2.0
// instead of rejected. Extra item fields: Atom's <id>/<updated>/<published>, RSS 1.0's dc:date.
const PARSER_OPTIONS = {
  defaultRSS: 2,
  customFields: { feed: ["ttl"], item: ["id", "updated", "published", "description"] },
};
const parser: Parser<Record<string, unknown>, RawItem> = new Parser(PARSER_OPTIONS);

/**
 * Documents longer than this (in characters) are parsed in xml2js's async mode: the text goes
 * to the SAX parser in ASYNC_CHUNK_CHARS pieces with a macrotask between them, so a 10,000-item
 * feed (about 2.5 MB) no longer holds the event loop every stage of `opsctl dev` shares for the
 * whole parse (~250 ms) but for one piece at a time. Small feeds, the common case, keep the
 * synchronous parse (no extra turns of the loop).
 */
export const ASYNC_PARSE_ABOVE_CHARS = 256 * 1024;
const ASYNC_CHUNK_CHARS = 32 * 1024;

/** xml2js gives strings, `{_: text, $: attrs}` objects or arrays of them; we want text. */
function textOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return textOf(value[0]);
  if (typeof value === "object") {
    const inner = (value as { _?: unknown })._;
    if (inner !== undefined) return textOf(inner);
    const href = (value as { $?: { href?: unknown } }).$?.href;
    if (typeof href === "string") return href;
  }
  return undefined;
}

function toItem(raw: RawItem): ParsedItem {
  return {
    title: textOf(raw.title),
    link: textOf(raw.link),
    guid: textOf(raw.guid) ?? textOf(raw.id),
    date:
      textOf(raw.pubDate) ??
      textOf(raw.isoDate) ??
      textOf(raw.published) ??
      textOf(raw.updated) ??
      textOf(raw.date),
    summary:
      textOf(raw.contentSnippet) ?? textOf(raw.summary) ?? textOf(raw.content) ?? textOf(raw.description),
  };
}

const FEED_ROOT = /<(?:[\w.-]+:)?(?:rss|feed|RDF)[\s>/]/;
const ITEM_ELEMENT = /<(?:[\w.-]+:)?(?:item|entry)[\s>]/;

function looksLikeHtml(text: string): boolean {
  return /<(?:html|head|body)[\s>]/i.test(text.slice(0, 4096)) && !FEED_ROOT.test(text);
}

/**
 * xml2js parses synchronously, but on some inputs (an empty document) it never calls back, so
 * rss-parser's promise never settles. Anything not settled by the next macrotask never will be.
 */
export function settledOrFail<T>(promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setImmediate(() =>
      reject(new Error("parser did not finish (empty or unterminated document)")),
    );
    promise.then(
      (value) => {
        clearImmediate(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearImmediate(timer);
        reject(error);
      },
    );
  });
}

/**
 * The async-mode counterpart of settledOrFail: xml2js takes one macrotask per piece, then
 * settles synchronously after the last, so a parse not settled after that many turns (with
 * margin for the turns other work takes) never will be.
 */
function settledWithinTurns<T>(promise: Promise<T>, turns: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let left = turns;
    let settled = false;
    const tick = () => {
      if (settled) return;
      if (left-- <= 0) {
        reject(new Error("parser did not finish (empty or unterminated document)"));
        return;
      }
      setImmediate(tick);
    };
    setImmediate(tick);
    promise.then(
      (value) => {
        settled = true;
        resolve(value);
      },
      (error: unknown) => {
        settled = true;
        reject(error);
      },
    );
  });
}

async function parseOutput(text: string, asyncAboveChars: number) {
  if (text.length <= asyncAboveChars) return settledOrFail(parser.parseString(text));
  // A parser per document: xml2js keeps the document being parsed on the instance, so two
  // feeds parsed at once (ingest fetches several) must not share one.
  const own: Parser<Record<string, unknown>, RawItem> = new Parser({
    ...PARSER_OPTIONS,
    xml2js: { async: true, chunkSize: ASYNC_CHUNK_CHARS },
  });
  try {
    return await settledWithinTurns(
      own.parseString(text),
      2 * Math.ceil(text.length / ASYNC_CHUNK_CHARS) + 16,
    );
  } catch {
    // The synchronous parse reads on past some errors that end the async one (xml2js resumes
    // the SAX parser after an error within one write): a broken document gets the synchronous
    // parse's answer, so it keeps every item it had before, at the old cost.
    return settledOrFail(parser.parseString(text));
  }
}

async function attempt(text: string, asyncAboveChars: number): Promise<ParsedFeed> {
  const output = await parseOutput(text, asyncAboveChars);
  return {
    title: textOf(output.title),
    link: textOf(output.link),
    items: (output.items as RawItem[]).map(toItem),
    repairs: [],
    ttl: textOf(output.ttl),
  };
}

/**
 * Parses decoded feed text with rss-parser; where that fails (or finds no items in a document
 * that plainly has some), sanitises the text and parses again. Documents above
 * `asyncAboveChars` (default ASYNC_PARSE_ABOVE_CHARS) are parsed in pieces that yield to the
 * event loop.
 * @throws NotAFeedError for HTML or anything without an rss/feed/RDF root.
 * @throws FeedParseError when even the sanitised text does not parse.
 */
export async function parseFeedText(
  input: string,
  options: { asyncAboveChars?: number } = {},
): Promise<ParsedFeed> {
  const asyncAboveChars = options.asyncAboveChars ?? ASYNC_PARSE_ABOVE_CHARS;
  const safe = stripDeclarations(input);
  if (!FEED_ROOT.test(safe.text)) {
    throw new NotAFeedError(
      looksLikeHtml(safe.text)
        ? "document is an HTML page, not a feed"
        : safe.text.trim() === ""
          ? "document is empty"
          : "document has no rss, feed or rdf:RDF element",
    );
  }
  let firstError: unknown;
  try {
    const feed = await attempt(safe.text, asyncAboveChars);
    if (feed.items.length > 0 || !ITEM_ELEMENT.test(safe.text)) return { ...feed, repairs: safe.repairs };
  } catch (error) {
    firstError = error;
  }
  const repaired = sanitise(safe.text);
  try {
    const feed = await attempt(repaired.text, asyncAboveChars);
    return { ...feed, repairs: [...safe.repairs, ...repaired.repairs] };
  } catch (error) {
    if (looksLikeHtml(safe.text))
      throw new NotAFeedError("document is an HTML page, not a feed", { cause: error });
    const message = error instanceof Error ? error.message : String(error);
    throw new FeedParseError(`feed does not parse even after sanitising: ${message.split("\n")[0]}`, {
      cause: firstError ?? error,
    });
  }
}
