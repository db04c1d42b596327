import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import Parser from "rss-parser";
import { decodeFeedBody } from "../../services/inbound-dock/decode.ts";
import { normaliseItems, plainText } from "../../services/inbound-dock/normalise.ts";
import { parseFeedText, settledOrFail } from "../../services/inbound-dock/parse.ts";

/**
 * Runs every file of a feed folder through the ingest parser (decode, sanitise, parse,
 * normalise) and, beside it, plain rss-parser and whatever the file's source project expects
 * (MANIFEST.tsv `expected`, rss-parser golden JSON). Used by `npm run corpus:feeds` and by
 * test/inbound-dock/corpus.test.ts.
 */

export interface Check {
  what: string;
  expected: string | number;
  actual: string | number | undefined;
  ok: boolean;
}

export interface CorpusFileResult {
  file: string;
  /** Our parser: items found (after normalising and in-feed dedup), or the error. */
  ours:
    | {
        /** Items the parser found. */
        items: number;
        /** Items that would be stored: normalised (a headline needs a title or summary), in-feed duplicates removed. */
        stored: number;
        feedTitle: string;
        title0: string | undefined;
        summary0: string | undefined;
        link0: string | undefined;
        charset: string;
        repairs: string[];
        duplicates: number;
      }
    | { error: string };
  plain: { items: number; title0: string | undefined } | { error: string };
  expectedNote: string | undefined;
  checks: Check[];
}

export interface CorpusReport {
  folder: string;
  files: CorpusFileResult[];
  totals: {
    files: number;
    readByUs: number;
    readByPlain: number;
    itemsUs: number;
    itemsPlain: number;
    checks: number;
    checksPassed: number;
    /** Files plain rss-parser failed on (threw) that we read. */
    recovered: number;
    /** Files we could not read, with the reason: the non-feeds should be here, nothing else. */
    unread: string[];
  };
}

interface ManifestRow {
  file: string;
  expected: string;
}

function readManifest(folder: string): Map<string, ManifestRow> {
  const file = path.join(folder, "MANIFEST.tsv");
  const rows = new Map<string, ManifestRow>();
  if (!existsSync(file)) return rows;
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
  const header = lines[0]?.split("\t") ?? [];
  const fileIndex = header.indexOf("file");
  const expectedIndex = header.indexOf("expected");
  for (const line of lines.slice(1)) {
    const cells = line.split("\t");
    const name = cells[fileIndex];
    if (name) rows.set(name, { file: name, expected: cells[expectedIndex] ?? "" });
  }
  return rows;
}

function listFiles(folder: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(folder, prefix)).sort()) {
    const relative = prefix ? `${prefix}/${name}` : name;
    if (statSync(path.join(folder, relative)).isDirectory()) {
      if (name === "expected") continue;
      out.push(...listFiles(folder, relative));
    } else if (!/\.(tsv|md|json)$/i.test(name)) {
      out.push(relative);
    }
  }
  return out;
}

/** Python string literal escapes as feedparser's test expectations write them. */
function pythonString(literal: string): string {
  return literal.replace(
    /\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})|\\(['"\\])/g,
    (_m, u?: string, x?: string, c?: string) =>
      u
        ? String.fromCharCode(Number.parseInt(u, 16))
        : x
          ? String.fromCharCode(Number.parseInt(x, 16))
          : (c ?? ""),
  );
}

/** feedparser's conformance files simulate an HTTP header in their leading comment. */
function simulatedContentType(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 1024).toString("latin1");
  return /Header:\s*Content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim();
}

const plainParser = new Parser();

async function runPlain(bytes: Buffer, latin1: boolean): Promise<CorpusFileResult["plain"]> {
  try {
    const feed = await settledOrFail(plainParser.parseString(bytes.toString(latin1 ? "latin1" : "utf8")));
    return { items: feed.items.length, title0: feed.items[0]?.title };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

async function runOurs(bytes: Buffer): Promise<CorpusFileResult["ours"]> {
  try {
    const decoded = decodeFeedBody(bytes, { contentType: simulatedContentType(bytes) });
    const parsed = await parseFeedText(decoded.text);
    const normalised = normaliseItems(parsed.items, {
      feedUrl: "http://corpus.invalid/feed",
      feedLink: parsed.link,
      fetchedAt: new Date("2026-01-01T00:00:00Z"),
    });
    const first = parsed.items[0];
    return {
      items: parsed.items.length,
      stored: normalised.items.length,
      feedTitle: plainText(parsed.title),
      title0: first ? plainText(first.title) : undefined,
      summary0: first ? plainText(first.summary) : undefined,
      link0: first?.link?.trim(),
      charset: decoded.charset,
      repairs: parsed.repairs,
      duplicates: normalised.duplicates,
    };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
}

function checksFor(expected: string, ours: CorpusFileResult["ours"], golden: unknown): Check[] {
  const checks: Check[] = [];
  const read = "error" in ours ? undefined : ours;
  const add = (what: string, want: string | number, actual: string | number | undefined) => {
    // rss-parser's golden encoding.json was made by reading Latin-1 bytes as UTF-8, so it holds
    // U+FFFD where the real letters are; there any one character matches.
    const ok =
      typeof want === "string" && want.includes("\uFFFD") && typeof actual === "string"
        ? new RegExp(`^${want.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replaceAll("\uFFFD", ".")}$`, "u").test(
            actual,
          )
        : actual === want;
    checks.push({ what, expected: want, actual, ok });
  };
  const items = /(?:^|; )items=(\d+)/.exec(expected);
  if (items?.[1]) add("items", Number(items[1]), read?.items);
  const title0 = /items\[0\]\.title="(.*?)"(?:;|$)/.exec(expected);
  if (title0?.[1] !== undefined) add("items[0].title", plainText(title0[1]), read?.title0);
  // The manifest cuts a long value short without its closing quote (customfields.rss): compare
  // the part given.
  const feedTitle = /feed\.title="(.*?)(?:"(?:;|$)| ; )/.exec(expected);
  if (feedTitle?.[1] !== undefined) {
    const want = plainText(feedTitle[1].replaceAll("\\n", "\n"));
    const got = read?.feedTitle;
    add("feed.title", want, got?.startsWith(want) ? want : got);
  }
  const pyFeedTitle = /feed\['title'\] == '(.*?)'/.exec(expected);
  if (pyFeedTitle?.[1] !== undefined)
    add("feed.title", plainText(pythonString(pyFeedTitle[1])), read?.feedTitle);
  const pyTitle = /entries\[0\]\['title'\] == '(.*?)'/.exec(expected);
  if (pyTitle?.[1] !== undefined) add("items[0].title", plainText(pythonString(pyTitle[1])), read?.title0);
  const pyDescription = /entries\[0\]\['description'\] == '(.*?)'/.exec(expected);
  if (pyDescription?.[1] !== undefined)
    add("items[0].summary", plainText(pythonString(pyDescription[1])), read?.summary0);
  const pyOrd = /ord\(entries\[0\]\['description'\]\) == (\d+)/.exec(expected);
  if (pyOrd?.[1]) add("items[0].summary code point", Number(pyOrd[1]), read?.summary0?.codePointAt(0));
  const pyLink = /entries\[0\]\.link == '(.*?)'/.exec(expected);
  if (pyLink?.[1] !== undefined) add("items[0].link", pyLink[1], read?.link0);
  if (/error "Not a feed"/.test(expected)) {
    // The peer's test asks only that it fails gracefully; a body we can unpack and read (the
    // gzip-without-Content-Encoding case) is better than that; a crash (TypeError...) fails.
    checks.push({
      what: "handled without crashing (peer: error 'Not a feed')",
      expected: "error or items",
      actual: read ? `read ${read.items} items` : "error",
      ok:
        read !== undefined ||
        ("error" in ours && /^(NotAFeedError|FeedParseError|DecodeError):/.test(ours.error)),
    });
  }
  if (golden && typeof golden === "object") {
    const feed = (golden as { feed?: { items?: { title?: string }[]; title?: string } }).feed;
    if (feed?.items) add("golden items", feed.items.length, read?.items);
    if (feed?.items?.[0]?.title !== undefined)
      add("golden items[0].title", plainText(feed.items[0].title), read?.title0);
  }
  return checks;
}

export async function analyseCorpus(folder: string): Promise<CorpusReport> {
  const manifest = readManifest(folder);
  const files: CorpusFileResult[] = [];
  for (const file of listFiles(folder)) {
    const bytes = readFileSync(path.join(folder, file));
    const row = manifest.get(file);
    const expected = row?.expected ?? "";
    const goldenName = /golden=test\/output\/([\w.-]+\.json)/.exec(expected)?.[1];
    const goldenPath = goldenName ? path.join(folder, path.dirname(file), "expected", goldenName) : undefined;
    const golden =
      goldenPath && existsSync(goldenPath) ? JSON.parse(readFileSync(goldenPath, "utf8")) : undefined;
    const ours = await runOurs(bytes);
    // The peers' own harness read encoding.rss as Latin-1 (OBSERVED_*.tsv); do the same for "plain".
    const plain = await runPlain(bytes, file.endsWith("encoding.rss"));
    files.push({
      file,
      ours,
      plain,
      expectedNote: expected || undefined,
      checks: checksFor(expected, ours, golden),
    });
  }
  const readByUs = files.filter((f) => !("error" in f.ours));
  const readByPlain = files.filter((f) => !("error" in f.plain));
  const checks = files.flatMap((f) => f.checks);
  return {
    folder,
    files,
    totals: {
      files: files.length,
      readByUs: readByUs.length,
      readByPlain: readByPlain.length,
      itemsUs: readByUs.reduce((sum, f) => sum + ("items" in f.ours ? f.ours.items : 0), 0),
      itemsPlain: readByPlain.reduce((sum, f) => sum + ("items" in f.plain ? f.plain.items : 0), 0),
      checks: checks.length,
      checksPassed: checks.filter((c) => c.ok).length,
      recovered: files.filter((f) => "error" in f.plain && !("error" in f.ours)).length,
      unread: files
        .filter((f) => "error" in f.ours)
        .map((f) => `${f.file}: ${(f.ours as { error: string }).error}`),
    },
  };
}
