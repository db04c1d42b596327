import { createHash } from "node:crypto";
import iconv from "iconv-lite";
import { HTML_ENTITIES } from "./entities.ts";
import type { ParsedItem } from "./parse.ts";
import { stripTerminalControls } from "./sanitise.ts";

/** One item ready for `inbound_events_raw`. */
export interface NormalisedItem {
  eventUid: string;
  title: string;
  summary: string | null;
  link: string | null;
  canonicalLink: string | null;
  publishedAt: Date;
  publishedEstimated: boolean;
}

/**
 * Query parameters that say who sent the click, not what the page is. Two feeds that link the
 * same article with different tracking tags must produce one canonical link.
 */
const TRACKING_PARAMS = new Set([
  "fbclid",
  "gclid",
  "gclsrc",
  "dclid",
  "msclkid",
  "yclid",
  "twclid",
  "igshid",
  "mc_cid",
  "mc_eid",
  "_ga",
  "_gl",
  "_hsenc",
  "_hsmi",
  "mkt_tok",
  "oly_anon_id",
  "oly_enc_id",
  "vero_id",
  "wt.mc_id",
  "cmpid",
  "ncid",
  "wprss",
  "rss",
  "ref_src",
  "feedtype",
  "feedname",
  "spm",
]);

function isTrackingParam(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.startsWith("utm_") || TRACKING_PARAMS.has(lower);
}

/**
 * The identity of a page: http(s) only, host lower-cased, default port, fragment and tracking
 * parameters dropped, remaining parameters sorted. Returns null for anything else (tag: URIs,
 * mailto:, garbage), which then cannot collide with another feed's item.
 */
export function canonicalLink(link: string | undefined | null, base?: string): string | null {
  if (!link) return null;
  let url: URL;
  try {
    url = new URL(link.trim(), base);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  url.hash = "";
  const kept = [...url.searchParams.entries()].filter(([name]) => !isTrackingParam(name));
  kept.sort(([a, av], [b, bv]) => (a === b ? av.localeCompare(bv) : a.localeCompare(b)));
  url.search = "";
  for (const [name, value] of kept) url.searchParams.append(name, value);
  return url.toString();
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);/g, (match, ref: string) => {
    let code: number | undefined;
    if (ref[0] === "#")
      code = ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
    else if (ref === "apos") code = 39;
    else code = HTML_ENTITIES[ref];
    if (code === undefined || !Number.isFinite(code) || code <= 0 || code > 0x10ffff) return match;
    return String.fromCodePoint(code);
  });
}

/**
 * Text published through one wrong decoding too many. C1 control characters (U+0080..U+009F)
 * never appear in real text, so their presence is the tell:
 *  - UTF-8 bytes read as Latin-1 ("â€¦" for "…", feedparser's double-encoded case): when every
 *    character fits in a byte and the bytes are valid UTF-8, re-decode them;
 *  - windows-1252 bytes read as Latin-1 (U+0092 for ’): map through windows-1252.
 */
function repairMojibake(text: string): string {
  if (!/[\u0080-\u009F]/.test(text)) return text;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: C0/C1 controls are what this removes or detects.
  if (/^[\u0000-\u00FF]*$/.test(text)) {
    const bytes = Buffer.from(text, "latin1");
    const utf8 = bytes.toString("utf8");
    if (!utf8.includes("\uFFFD")) return utf8;
  }
  // Positions windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are controls, not
  // text: removed, not shown as U+FFFD.
  return text.replace(/[\u0080-\u009F]/g, (ch) => {
    const decoded = iconv.decode(Buffer.from([ch.charCodeAt(0)]), "windows-1252");
    return decoded === "\uFFFD" ? "" : decoded;
  });
}

const BLOCK_TAGS =
  /<\/?(?:p|br|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|hr|figure|figcaption|pre)\b[^<>]*>/gi;
const INLINE_TAGS =
  /<\/?(?:a|b|i|u|s|em|strong|span|sup|sub|img|font|small|big|code|cite|abbr|q|strike|iframe|picture|source|video|audio|time|mark)\b[^<>]*>/gi;

/** Removes every `open ... close` span (case-insensitive); an unterminated one runs to the end. */
function removeSpans(text: string, open: string, close: string): string {
  const lower = text.toLowerCase();
  if (!lower.includes(open)) return text;
  const parts: string[] = [];
  let at = 0;
  for (;;) {
    const start = lower.indexOf(open, at);
    if (start < 0) break;
    parts.push(text.slice(at, start), " ");
    const end = lower.indexOf(close, start + open.length);
    at = end < 0 ? text.length : end + close.length;
  }
  parts.push(text.slice(at));
  return parts.join("");
}

/** Plain text from a title or summary: no tags, no entities, one space between words, trimmed. */
export function plainText(value: string | undefined | null): string {
  if (!value) return "";
  // CDATA wrappers rss-parser left (a title wrapped twice) go; comments, scripts and styles go
  // whole. Done with indexOf, not lazy regular expressions: those rescan the rest of the text for
  // each unterminated opener, quadratic on a hostile multi-megabyte description.
  let text = value.replaceAll("<![CDATA[", "").replaceAll("]]>", "");
  text = removeSpans(text, "<!--", "-->");
  text = removeSpans(text, "<script", "</script>");
  text = removeSpans(text, "<style", "</style>");
  // Tags present before decoding are real markup; strip them all. Titles also come escaped once
  // more than they should (`&lt;b&gt;`): after decoding, strip what is plainly an HTML tag again,
  // but keep text such as "<Q3>" that only looks like one.
  text = text.replace(BLOCK_TAGS, " ").replace(/<\/?[A-Za-z][^<>]*>/g, "");
  text = decodeEntities(text);
  text = text.replace(BLOCK_TAGS, " ").replace(INLINE_TAGS, "");
  // Escape sequences go whole before the mojibake repair could turn an 8-bit CSI into "›".
  text = stripTerminalControls(text);
  text = repairMojibake(text);
  return (
    text
      // Every C0 and C1 control left (tab and newlines become spaces below), DEL, zero-width space, BOM.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: C0/C1 controls are what this removes or detects.
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200B\uFEFF]/g, "")
      .replace(/\s+/g, " ")
      .trim()
  );
}

const EARLIEST_PLAUSIBLE_MS = Date.UTC(1995, 0, 1);
const FUTURE_TOLERANCE_MS = 24 * 60 * 60 * 1000;

/**
 * A date from RFC 822 (`Tue, 10 Jun 2003 04:00:00 GMT`, obsolete zones `EST`/`PDT`, two-digit
 * years) or ISO 8601 (`2003-06-10T04:00:00Z`, `...+02:00`). Returns null when there is none or it
 * is absurd: before 1995 (no web feeds then) or more than a day after the fetch.
 */
export function parsePublished(value: string | undefined | null, fetchedAt: Date): Date | null {
  if (!value) return null;
  let text = value.trim().replace(/\s+/g, " ");
  if (!text) return null;
  // RFC 822 allows a two-digit year; V8 guesses the century wrongly for some of them.
  text = text.replace(
    /^((?:[A-Za-z]{3},? )?\d{1,2} [A-Za-z]{3} )(\d{2})( )/,
    (_m, head: string, yy: string, tail: string) => {
      const year = Number(yy);
      return `${head}${year < 70 ? 2000 + year : 1900 + year}${tail}`;
    },
  );
  // "UT" is RFC 822's name for GMT; V8 does not know it.
  text = text.replace(/ UT$/, " GMT");
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return null;
  if (ms < EARLIEST_PLAUSIBLE_MS || ms > fetchedAt.getTime() + FUTURE_TOLERANCE_MS) return null;
  return new Date(ms);
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * event_uid (ARCHITECTURE invariant 1): the item's guid, else its canonical link, else a hash of
 * its title and date. A guid is global only when it looks like a URI (`http:`, `urn:`, `tag:`);
 * a bare guid ("12345") is qualified with the feed's URL so two feeds' "12345" do not collide.
 * The value is hashed to a fixed width; the prefix says which rule made it.
 */
export function eventUid(
  item: { guid: string | undefined; canonicalLink: string | null; title: string; date: string | undefined },
  feedUrl: string,
): string {
  const guid = item.guid?.trim();
  if (guid) {
    const global = /^[A-Za-z][A-Za-z0-9+.-]*:\S/.test(guid);
    return `guid:${sha256(global ? guid : `${feedUrl}#${guid}`)}`;
  }
  if (item.canonicalLink) return `link:${sha256(item.canonicalLink)}`;
  return `hash:${sha256(`${item.title}\n${item.date?.trim() ?? ""}`)}`;
}

const MAX_TITLE = 1_000;
const MAX_SUMMARY = 4_000;

/**
 * Normalises one parsed item, or returns null when it has nothing to be a headline (no title and
 * no summary text).
 */
export function normaliseItem(
  item: ParsedItem,
  context: { feedUrl: string; feedLink?: string | undefined; fetchedAt: Date },
  options: { linkIdentifies?: boolean; canonical?: string | null } = {},
): NormalisedItem | null {
  const summaryText = plainText(item.summary);
  let title = plainText(item.title);
  if (!title) title = summaryText.slice(0, 200).trim();
  if (!title) return null;
  const base = context.feedLink ? safeBase(context.feedLink, context.feedUrl) : context.feedUrl;
  const rawLink = item.link?.trim() || undefined;
  let link: string | null = null;
  if (rawLink) {
    try {
      link = new URL(rawLink, base).toString();
    } catch {
      link = rawLink;
    }
  }
  const canonical =
    options.linkIdentifies === false
      ? null
      : options.canonical !== undefined
        ? options.canonical
        : canonicalLink(rawLink, base);
  const published = parsePublished(item.date, context.fetchedAt);
  return {
    eventUid: eventUid(
      { guid: item.guid, canonicalLink: canonical, title, date: item.date },
      context.feedUrl,
    ),
    title: title.slice(0, MAX_TITLE),
    summary: summaryText ? summaryText.slice(0, MAX_SUMMARY) : null,
    link,
    canonicalLink: canonical,
    publishedAt: published ?? context.fetchedAt,
    publishedEstimated: published === null,
  };
}

function safeBase(link: string, feedUrl: string): string {
  try {
    return new URL(link, feedUrl).toString();
  } catch {
    return feedUrl;
  }
}

/**
 * Normalises a feed's items and removes in-feed duplicates (same event_uid, or same canonical
 * link). A canonical link that several distinct items of one document share (a feed that links
 * every item to its home page) does not identify an item: it is kept in `link` but cleared from
 * `canonicalLink`, so the cross-feed unique index cannot swallow those items.
 */
export function normaliseItems(
  items: readonly ParsedItem[],
  context: { feedUrl: string; feedLink?: string | undefined; fetchedAt: Date },
): { items: NormalisedItem[]; skipped: number; duplicates: number } {
  const base = context.feedLink ? safeBase(context.feedLink, context.feedUrl) : context.feedUrl;
  const feedHome = canonicalLink(context.feedLink, context.feedUrl);
  // Which distinct items (by guid, else title and date) point at each canonical link.
  const links = items.map((item) => canonicalLink(item.link, base));
  const linkUse = new Map<string, Set<string>>();
  items.forEach((item, index) => {
    const link = links[index];
    if (!link) return;
    const who = item.guid?.trim() || `${plainText(item.title)}\n${item.date ?? ""}`;
    const set = linkUse.get(link) ?? new Set<string>();
    set.add(who);
    linkUse.set(link, set);
  });
  const seenUids = new Set<string>();
  const seenLinks = new Set<string>();
  const unique: NormalisedItem[] = [];
  let skipped = 0;
  let duplicates = 0;
  for (const [index, item] of items.entries()) {
    const link = links[index] ?? null;
    const linkIdentifies = link === null || (link !== feedHome && (linkUse.get(link)?.size ?? 0) <= 1);
    const result = normaliseItem(item, context, { linkIdentifies, canonical: link });
    if (!result) {
      skipped += 1;
      continue;
    }
    if (seenUids.has(result.eventUid) || (result.canonicalLink && seenLinks.has(result.canonicalLink))) {
      duplicates += 1;
      continue;
    }
    seenUids.add(result.eventUid);
    if (result.canonicalLink) seenLinks.add(result.canonicalLink);
    unique.push(result);
  }
  return { items: unique, skipped, duplicates };
}
