// The PhraseBank development sentences (../shared/corpus/sentiment, README there) and the figures
// `npm run eval -- sentiment` and test/sortation/lexicon-eval.test.ts compute on them. Read from the
// shared corpus, never copied into the repository.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { SentimentLabel } from "../services/sortation/classifier.ts";

export const LABELS: readonly SentimentLabel[] = ["positive", "negative", "neutral"];

export interface LabelledSentence {
  label: SentimentLabel;
  text: string;
  /** "tune": rules and thresholds may be chosen on it; "held-back": never looked at while tuning. */
  split: "tune" | "held-back";
}

/** The corpus folder: OPS_CORPUS_DIR, else ../shared/corpus beside the repository. */
export function corpusDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return env.OPS_CORPUS_DIR ?? path.resolve(import.meta.dirname, "../../shared/corpus");
}

export const SENTIMENT_FILE = "sentiment/phrasebank_majority_not_unanimous.tsv";

/** FNV-1a over the UTF-16 code units: a deterministic hash with no dependency. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** One sentence in five, chosen by a hash of its text: stable across runs, machines and edits. */
export function splitOf(text: string): LabelledSentence["split"] {
  return fnv1a(text) % 5 === 0 ? "held-back" : "tune";
}

/** Reads the labelled sentences, or null when the corpus is absent. */
export function readPhraseBank(dir = corpusDir()): LabelledSentence[] | null {
  const file = path.join(dir, SENTIMENT_FILE);
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, "utf8").split(/\r?\n/);
  const out: LabelledSentence[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const tab = line.indexOf("\t");
    const label = line.slice(0, tab);
    const text = line.slice(tab + 1);
    if (!(LABELS as readonly string[]).includes(label)) {
      throw new Error(`${file}: unknown label ${JSON.stringify(label)}`);
    }
    out.push({ label: label as SentimentLabel, text, split: splitOf(text) });
  }
  return out;
}

export interface Figures {
  n: number;
  accuracy: number;
  macroF1: number;
  perClass: Record<SentimentLabel, { precision: number; recall: number; f1: number }>;
  /** confusion[actual][predicted] */
  confusion: Record<SentimentLabel, Record<SentimentLabel, number>>;
}

/** Accuracy, macro-F1 (unweighted mean of the three classes' F1) and the confusion matrix. */
export function figures(actual: readonly SentimentLabel[], predicted: readonly SentimentLabel[]): Figures {
  if (actual.length !== predicted.length) throw new Error("actual and predicted differ in length");
  const zero = () => ({ positive: 0, negative: 0, neutral: 0 });
  const confusion = { positive: zero(), negative: zero(), neutral: zero() };
  actual.forEach((label, i) => {
    const guess = predicted[i] as SentimentLabel;
    confusion[label][guess] += 1;
  });
  const perClass = {} as Figures["perClass"];
  let correct = 0;
  let f1Sum = 0;
  for (const c of LABELS) {
    const tp = confusion[c][c];
    correct += tp;
    const fp = LABELS.reduce((sum, a) => sum + (a === c ? 0 : confusion[a][c]), 0);
    const fn = LABELS.reduce((sum, p) => sum + (p === c ? 0 : confusion[c][p]), 0);
    const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
    const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    perClass[c] = { precision, recall, f1 };
    f1Sum += f1;
  }
  return {
    n: actual.length,
    accuracy: actual.length === 0 ? 0 : correct / actual.length,
    macroF1: f1Sum / LABELS.length,
    perClass,
    confusion,
  };
}

/** Sign of a summed word score as a label: the "plain summed word list" baseline's rule. */
export function labelOfSum(sum: number): SentimentLabel {
  return sum > 0 ? "positive" : sum < 0 ? "negative" : "neutral";
}

/** Plain summed valences of a word list over lowercase words, no rules: the baseline. */
export function summedWordList(list: Readonly<Record<string, number>>): (text: string) => SentimentLabel {
  const map = new Map(Object.entries(list));
  return (text) => {
    let sum = 0;
    for (const word of text.toLowerCase().match(/[a-z][a-z'-]*/g) ?? []) sum += map.get(word) ?? 0;
    return labelOfSum(sum);
  };
}
