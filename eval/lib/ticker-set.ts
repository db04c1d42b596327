import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { TickerUniverse } from "../../services/sortation/tickers.ts";
import { corpusFile } from "./corpus.ts";

/**
 * The labelled ticker set of eval/data/tickers (rules in RULES.md): row numbers and title hashes
 * of ../shared/corpus/headlines/benzinga_analyst_ratings_dev.csv with the tickers each is about.
 */

export const HEADLINES_CSV = "headlines/benzinga_analyst_ratings_dev.csv";
const LABELS = path.resolve(import.meta.dirname, "../data/tickers/labels.tsv");

export type Split = "dev" | "holdout";

export interface LabelledHeadline {
  /** 1-based data row of the CSV. */
  row: number;
  split: Split;
  filedUnder: string;
  title: string;
  expected: readonly string[];
}

/** RFC 4180: quoted fields may hold commas, quotes ("") and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"' && field.length === 0) quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field.length > 0 || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export const titleHash = (title: string) => createHash("sha256").update(title).digest("hex").slice(0, 8);

/** A label that no longer matches the CSV: the CSV changed, and scoring it would be wrong. */
export class LabelMismatchError extends Error {
  constructor(readonly rows: readonly number[]) {
    super(
      `${rows.length} labelled rows of ${HEADLINES_CSV} no longer match their title hash (first: ${rows.slice(0, 5).join(", ")}); ` +
        "the CSV changed: relabel those rows under eval/data/tickers/RULES.md",
    );
    this.name = "LabelMismatchError";
  }
}

/**
 * Reads the labels and the headlines they name.
 * @throws CorpusAbsentError when the CSV is absent; LabelMismatchError when a title hash differs.
 */
export function loadTickerSet(): LabelledHeadline[] {
  const csv = parseCsv(readFileSync(corpusFile(HEADLINES_CSV), "utf8"));
  const header = csv[0] ?? [];
  const titleAt = header.indexOf("title");
  const out: LabelledHeadline[] = [];
  const mismatched: number[] = [];
  for (const line of readFileSync(LABELS, "utf8").split("\n")) {
    if (line.startsWith("#") || line.startsWith("row\t") || line.trim() === "") continue;
    const [row, hash, split, filedUnder, tickers] = line.split("\t");
    const n = Number(row);
    const title = csv[n]?.[titleAt];
    if (title === undefined || titleHash(title) !== hash) {
      mismatched.push(n);
      continue;
    }
    out.push({
      row: n,
      split: split === "holdout" ? "holdout" : "dev",
      filedUnder: filedUnder ?? "",
      title,
      expected: tickers === "-" || !tickers ? [] : tickers.split(" "),
    });
  }
  if (mismatched.length > 0) throw new LabelMismatchError(mismatched);
  return out;
}

export interface Scores {
  headlines: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** Of the tickers predicted, the share that are labelled (1 when none predicted). */
  precision: number;
  /** Of the labelled tickers, the share predicted (1 when none labelled). */
  recall: number;
  /** Headlines whose predicted set equals the labelled set exactly (empty = empty counts). */
  exactSet: number;
}

/** Micro-averaged precision and recall over all tickers, and the exact-set rate per headline. */
export function score(
  items: readonly { expected: readonly string[]; predicted: readonly string[] }[],
): Scores {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let exact = 0;
  for (const { expected, predicted } of items) {
    const want = new Set(expected);
    const got = new Set(predicted);
    let hits = 0;
    for (const t of got) if (want.has(t)) hits++;
    tp += hits;
    fp += got.size - hits;
    fn += want.size - hits;
    if (hits === want.size && hits === got.size) exact++;
  }
  return {
    headlines: items.length,
    truePositives: tp,
    falsePositives: fp,
    falseNegatives: fn,
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
    exactSet: items.length === 0 ? 1 : exact / items.length,
  };
}

/**
 * The naive baseline: cashtags, bare uppercase tokens that are exact symbols, and the exact full
 * names of the snapshot (legal suffixes already dropped), case-insensitive, as whole words.
 */
export function naiveExtractor(universe: TickerUniverse): (text: string) => string[] {
  const names = new Map<string, string>();
  let longest = 1;
  for (const [ticker, , name] of universe.companies) {
    if (!name || names.has(name)) continue;
    names.set(name, ticker);
    longest = Math.max(longest, name.split(" ").length);
  }
  return (text) => {
    const found = new Set<string>();
    for (const m of text.matchAll(/\$([A-Za-z]{1,5}(?:[.-][A-Za-z]{1,2})?)\b/g)) {
      const symbol = (m[1] ?? "").toUpperCase().replace("-", ".");
      if (universe.symbols.has(symbol)) found.add(symbol);
    }
    for (const m of text.matchAll(/(?<![A-Za-z0-9$])[A-Z]{1,5}(?:\.[A-Z]{1,2})?(?![A-Za-z0-9])/g)) {
      if (universe.symbols.has(m[0])) found.add(m[0]);
    }
    const words = (text.toUpperCase().match(/[A-Z0-9]+(?:[&'-][A-Z0-9]+)*/g) ?? []).map((w) => w);
    for (let i = 0; i < words.length; i++) {
      for (let n = Math.min(longest, words.length - i); n >= 1; n--) {
        const ticker = names.get(words.slice(i, i + n).join(" "));
        if (ticker) {
          found.add(ticker);
          break;
        }
      }
    }
    return [...found];
  };
}
