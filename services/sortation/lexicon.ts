import { type Classifier, type Sentiment, sentimentFrom } from "./classifier.ts";

/**
 * The offline fallback: a finance lexicon scorer written for this project (word lists chosen by
 * hand for headline language, in the spirit of Loughran-McDonald but not copied from it). It is
 * deliberately simple and deterministic; every row it scores says classifier='lexicon' so the
 * signal engine and operators can tell it from FinBERT.
 */

const POSITIVE: Readonly<Record<string, number>> = {
  beat: 1.5,
  beats: 1.5,
  surpass: 1.2,
  surpasses: 1.2,
  exceeds: 1.2,
  exceeded: 1.2,
  tops: 1.2,
  record: 0.8,
  growth: 0.8,
  grows: 0.8,
  grew: 0.8,
  gain: 1,
  gains: 1,
  gained: 1,
  jump: 1.2,
  jumps: 1.2,
  jumped: 1.2,
  soar: 1.5,
  soars: 1.5,
  soared: 1.5,
  surge: 1.5,
  surges: 1.5,
  surged: 1.5,
  rally: 1.2,
  rallies: 1.2,
  rallied: 1.2,
  rise: 0.8,
  rises: 0.8,
  rose: 0.8,
  climb: 0.8,
  climbs: 0.8,
  upgrade: 1.5,
  upgrades: 1.5,
  upgraded: 1.5,
  outperform: 1.2,
  bullish: 1.5,
  profit: 0.8,
  profits: 0.8,
  profitable: 1,
  raises: 0.8,
  raised: 0.8,
  boost: 1,
  boosts: 1,
  boosted: 1,
  strong: 1,
  stronger: 1,
  robust: 1,
  buyback: 1,
  dividend: 0.5,
  approval: 1.2,
  approved: 1.2,
  approves: 1.2,
  wins: 1,
  won: 1,
  award: 0.8,
  awarded: 0.8,
  expands: 0.6,
  expansion: 0.6,
  partnership: 0.6,
  acquire: 0.3,
  breakthrough: 1.2,
  optimistic: 1,
  upbeat: 1.2,
  rebound: 1,
  rebounds: 1,
  recovers: 1,
  recovery: 0.8,
  higher: 0.6,
  positive: 0.8,
  improves: 1,
  improved: 1,
};

const NEGATIVE: Readonly<Record<string, number>> = {
  miss: 1.5,
  misses: 1.5,
  missed: 1.5,
  fall: 1,
  falls: 1,
  fell: 1,
  drop: 1,
  drops: 1,
  dropped: 1,
  plunge: 1.5,
  plunges: 1.5,
  plunged: 1.5,
  slump: 1.5,
  slumps: 1.5,
  tumble: 1.5,
  tumbles: 1.5,
  sink: 1.2,
  sinks: 1.2,
  sank: 1.2,
  slide: 1,
  slides: 1,
  decline: 1,
  declines: 1,
  declined: 1,
  loss: 1.2,
  losses: 1.2,
  lose: 1,
  loses: 1,
  downgrade: 1.5,
  downgrades: 1.5,
  downgraded: 1.5,
  underperform: 1.2,
  bearish: 1.5,
  cut: 0.8,
  cuts: 0.8,
  slash: 1.2,
  slashes: 1.2,
  layoffs: 1.2,
  layoff: 1.2,
  lawsuit: 1.2,
  sued: 1.2,
  sues: 1.2,
  probe: 1.2,
  investigation: 1.2,
  fraud: 2,
  recall: 1.2,
  recalls: 1.2,
  bankruptcy: 2,
  bankrupt: 2,
  default: 1.5,
  defaults: 1.5,
  weak: 1,
  weaker: 1,
  warning: 1.2,
  warns: 1.2,
  warned: 1.2,
  halt: 1.2,
  halts: 1.2,
  halted: 1.2,
  fine: 0.8,
  fined: 1.2,
  penalty: 1.2,
  delay: 0.8,
  delays: 0.8,
  delayed: 0.8,
  crash: 2,
  crashes: 2,
  lower: 0.6,
  negative: 0.8,
  concern: 0.8,
  concerns: 0.8,
  fears: 1,
  risk: 0.5,
  resigns: 1,
  selloff: 1.5,
  "sell-off": 1.5,
  shortfall: 1.2,
  writedown: 1.2,
  impairment: 1.2,
  deficit: 0.8,
};

/** Words that flip the next sentiment word within three tokens ("not", "fails to beat"). */
const NEGATORS = new Set([
  "not",
  "no",
  "never",
  "without",
  "fails",
  "failed",
  "fail",
  "didn't",
  "doesn't",
  "won't",
]);

const WORD = /[a-z][a-z'-]*/g;

/** Scores one headline. Pure; exported for tests. */
export function lexiconSentiment(text: string): Sentiment {
  const words = text.toLowerCase().match(WORD) ?? [];
  let positive = 0;
  let negative = 0;
  let negateUntil = -1;
  words.forEach((word, index) => {
    if (NEGATORS.has(word)) {
      negateUntil = index + 3;
      return;
    }
    const pos = POSITIVE[word] ?? 0;
    const neg = NEGATIVE[word] ?? 0;
    if (pos === 0 && neg === 0) return;
    if (index <= negateUntil) {
      positive += neg;
      negative += pos;
    } else {
      positive += pos;
      negative += neg;
    }
  });
  // A softmax over (positive, negative, a neutral prior of 1): no evidence gives neutral with
  // p≈0.58, one strong word tips the label, and probabilities always sum to 1.
  const ePos = Math.exp(positive);
  const eNeg = Math.exp(negative);
  const eNeu = Math.exp(1);
  const total = ePos + eNeg + eNeu;
  return sentimentFrom(ePos / total, eNeg / total, eNeu / total);
}

export function lexiconClassifier(): Classifier {
  return {
    kind: "lexicon",
    modelId: "ops-pipeline/finance-lexicon",
    modelRevision: "1",
    modelDtype: null,
    classify: async (texts) => texts.map(lexiconSentiment),
    close: async () => undefined,
  };
}
