import { afinn165FinancialMarketNews } from "afinn-165-financialmarketnews";
import { type Classifier, type Sentiment, sentimentFrom } from "./classifier.ts";

/**
 * The lexicon classifier: the maintained AFINN-165 financial-market-news word list (npm
 * `afinn-165-financialmarketnews`, MIT; AFINN-165 by Finn Årup Nielsen with 170+ finance additions)
 * as the base, plus general rules that measure better on Financial PhraseBank (docs/sortation.md,
 * `npm run eval -- sentiment`):
 *
 * 1. inflections the list lacks ("beats", "soars") fall back to their stem's valence;
 * 2. words that only name a financial quantity ("profit", "loss", "sales", "shares", "demand")
 *    carry no valence alone: in company news their direction decides ("operating loss narrowed"
 *    is good news, "net sales fell" bad), so a direction word next to a quantity scores
 *    direction × the quantity's polarity instead of either word's own valence;
 * 3. finance phrases ("beats estimates", "cuts guidance", "profit warning") score as a unit;
 * 4. a negator ("not", "fails to", "no") flips what follows until the clause ends (at most
 *    four words); an intensifier ("sharply", "significantly") multiplies the next scored word;
 * 5. per-class thresholds on the summed score: the positive one is higher than the negative one,
 *    because finance prose is full of mildly positive boilerplate ("leading", "solutions").
 *
 * Deterministic and pure; every row it scores says classifier='lexicon' so the signal engine and
 * operators can tell it from FinBERT. The thresholds were tuned on the tuning split of the
 * PhraseBank development sentences only (eval/sentiment-corpus.ts), never on the held-back split.
 */

/** Bumped whenever a rule, list or threshold changes: stored as model_revision on every row. */
export const LEXICON_REVISION = "2-afinn165fmn3.0.0";
export const LEXICON_MODEL_ID = "ops-pipeline/finance-lexicon";

/** A hostile or broken feed can send a huge title: only the first characters are scored. */
export const LEXICON_MAX_CHARS = 4_000;

const BASE: ReadonlyMap<string, number> = new Map(Object.entries(afinn165FinancialMarketNews));

/** Quantities whose increase is good news (+1) or bad news (-1) for the company. */
const QUANTITY: ReadonlyMap<string, 1 | -1> = new Map([
  ...[
    "profit",
    "profits",
    "profitability",
    "sales",
    "revenue",
    "revenues",
    "earnings",
    "income",
    "ebit",
    "ebitda",
    "eps",
    "margin",
    "margins",
    "orders",
    "order",
    "turnover",
    "dividend",
    "dividends",
    "result",
    "results",
    "demand",
    "deliveries",
    "production",
    "output",
    "volume",
    "volumes",
    "traffic",
    "market",
    "share",
    "shares",
    "stock",
    "price",
    "prices",
    "value",
    "capacity",
    "outlook",
    "guidance",
    "forecast",
    "rating",
    "target",
    "cash",
    "efficiency",
    "productivity",
    "performance",
    "exports",
    "backlog",
    "bookings",
    "subscribers",
    "customers",
    "occupancy",
    "yield",
    "jobs",
    "employees",
    "personnel",
    "staff",
    "headcount",
    "workforce",
  ].map((word) => [word, 1 as const] as const),
  ...[
    "loss",
    "losses",
    "costs",
    "cost",
    "expenses",
    "debt",
    "debts",
    "deficit",
    "unemployment",
    "writedowns",
    "write-downs",
    "impairment",
    "impairments",
    "charges",
    "liabilities",
    "inventories",
    "layoffs",
    "risk",
    "risks",
    "provisions",
    "churn",
  ].map((word) => [word, -1 as const] as const),
]);

/** Direction words: +1 up, -1 down. */
const DIRECTION: ReadonlyMap<string, 1 | -1> = new Map([
  ...[
    "increase",
    "increased",
    "increases",
    "increasing",
    "rise",
    "rises",
    "rose",
    "risen",
    "rising",
    "grew",
    "grow",
    "grows",
    "growing",
    "up",
    "higher",
    "improve",
    "improved",
    "improves",
    "improving",
    "improvement",
    "jump",
    "jumped",
    "jumps",
    "soar",
    "soared",
    "soars",
    "surge",
    "surged",
    "surges",
    "doubled",
    "double",
    "doubles",
    "tripled",
    "growth",
    "climb",
    "climbed",
    "climbs",
    "gain",
    "gained",
    "gains",
    "boost",
    "boosted",
    "boosts",
    "expand",
    "expanded",
    "expands",
    "strengthened",
    "raise",
    "raised",
    "raises",
    "exceeded",
    "record",
    "upgraded",
    "upgrades",
  ].map((word) => [word, 1 as const] as const),
  ...[
    "decrease",
    "decreased",
    "decreases",
    "decreasing",
    "decline",
    "declined",
    "declines",
    "declining",
    "fell",
    "fall",
    "falls",
    "falling",
    "drop",
    "dropped",
    "drops",
    "down",
    "lower",
    "lowered",
    "lowers",
    "reduce",
    "reduced",
    "reduces",
    "reduction",
    "cut",
    "cuts",
    "narrowed",
    "narrow",
    "narrows",
    "shrank",
    "shrunk",
    "contracted",
    "plunged",
    "plunge",
    "plunges",
    "slumped",
    "slump",
    "weakened",
    "deteriorated",
    "halved",
    "diminished",
    "slashed",
    "slashes",
    "downgraded",
    "downgrades",
    "tumbled",
    "sank",
  ].map((word) => [word, -1 as const] as const),
]);

/** Phrases scored as a unit (lowercase words, space separated); their words score nothing else. */
const PHRASES: ReadonlyMap<string, number> = new Map([
  ["beat estimates", 3],
  ["beats estimates", 3],
  ["beat expectations", 3],
  ["beats expectations", 3],
  ["above expectations", 3],
  ["above estimates", 3],
  ["better than expected", 3],
  ["stronger than expected", 3],
  ["exceeded expectations", 3],
  ["below expectations", -3],
  ["below estimates", -3],
  ["missed estimates", -3],
  ["misses estimates", -3],
  ["miss estimates", -3],
  ["missed expectations", -3],
  ["worse than expected", -3],
  ["weaker than expected", -3],
  ["raises guidance", 3],
  ["raised guidance", 3],
  ["raises outlook", 3],
  ["raised its outlook", 3],
  ["raises its outlook", 3],
  ["raised its guidance", 3],
  ["raises its guidance", 3],
  ["cuts guidance", -3],
  ["cut guidance", -3],
  ["lowers guidance", -3],
  ["lowered guidance", -3],
  ["cuts its guidance", -3],
  ["cut its guidance", -3],
  ["lowered its guidance", -3],
  ["lowers its outlook", -3],
  ["lowered its outlook", -3],
  ["profit warning", -3],
  ["swung to a loss", -3],
  ["swung to a profit", 3],
  ["turned to a profit", 3],
  ["turned to a loss", -3],
  ["returned to profit", 3],
  ["in the black", 2],
  ["in the red", -2],
  ["temporary layoffs", -2],
  ["price target", 0],
  ["share capital", 0],
  ["share issue", 0],
  ["lay off", -2],
  ["laying off", -2],
  ["lay-offs", -2],
  ["lay offs", -2],
  ["laid off", -2],
  ["shut down", -2],
  ["personnel negotiations", -1],
  ["employer-employee negotiations", -1],
  ["co-operation negotiations", -1],
]);
const LONGEST_PHRASE = Math.max(...[...PHRASES.keys()].map((phrase) => phrase.split(" ").length));

/**
 * Rule 3b, results against expectations: a beat or miss word at most three words before an
 * expectation word ("topped consensus forecasts", "came in below analysts' estimates").
 */
const EXPECTATIONS = new Set([
  "estimates",
  "estimate",
  "expectations",
  "expected",
  "forecasts",
  "forecast",
  "consensus",
  "views",
  "targets",
  "guidance",
]);
const BEAT_OR_MISS: ReadonlyMap<string, number> = new Map([
  ...[
    "beat",
    "beats",
    "beating",
    "topped",
    "tops",
    "top",
    "exceeded",
    "exceeds",
    "exceed",
    "surpassed",
    "surpasses",
    "above",
    "better",
    "ahead",
    "outpaced",
  ].map((w) => [w, 3] as const),
  ...["missed", "misses", "miss", "missing", "below", "short", "worse", "lagged", "trailed", "under"].map(
    (w) => [w, -3] as const,
  ),
]);

/** Words that flip what follows in their clause ("not", "fails to beat"). */
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
  "don't",
  "won't",
  "isn't",
  "wasn't",
  "aren't",
  "cannot",
  "can't",
  "neither",
  "nor",
]);
const NEGATION_SCOPE_WORDS = 4;

/** Multiply the next scored word. */
const INTENSIFIERS: ReadonlyMap<string, number> = new Map([
  ["sharply", 1.5],
  ["significantly", 1.5],
  ["substantially", 1.5],
  ["strongly", 1.5],
  ["considerably", 1.5],
  ["markedly", 1.5],
  ["very", 1.3],
  ["slightly", 0.5],
  ["marginally", 0.5],
  ["somewhat", 0.5],
]);

/** Pairs a direction word with a quantity at most this many words away in the same clause. */
const PAIR_WINDOW = 6;

/**
 * Summed-score thresholds: positive above POSITIVE_THRESHOLD, negative below -NEGATIVE_THRESHOLD,
 * neutral in between. Tuned on the tuning split (docs/sortation.md).
 */
export const POSITIVE_THRESHOLD = 1;
export const NEGATIVE_THRESHOLD = 0.5;

/** Clause boundaries: negation and direction pairing stop here. */
const TOKEN = /[-+]?\d[\d,]*(?:\.\d+)?|[a-z][a-z0-9'-]*|[.;:!?,()]/g;
const BOUNDARY = new Set([".", ";", ":", "!", "?", "(", ")"]);

/** Valence of a word from the base list, or of its stem when the inflection is missing. */
function baseValence(word: string): number {
  const direct = BASE.get(word);
  if (direct !== undefined) return direct;
  for (const suffix of ["s", "es", "ed", "d", "ing"]) {
    if (word.length > suffix.length + 2 && word.endsWith(suffix)) {
      const stem = BASE.get(word.slice(0, -suffix.length));
      if (stem !== undefined) return stem;
    }
  }
  return 0;
}

/**
 * Words the base list rates but that are topic words in company news (rule 2): chosen by one rule
 * on the tuning split only: rated by the list, in at least 8 tuning sentences, and at least 60% of
 * those labelled neutral ("agreed", "acquired", "public", "quality"...).
 */
const TOPIC_WORDS = new Set([
  "agreed",
  "acquired",
  "acquire",
  "high",
  "growing",
  "partners",
  "assets",
  "quality",
  "natural",
  "clear",
  "sustainable",
  "like",
  "public",
  "important",
  "secure",
  "pay",
  "approval",
]);

/** A quantity word with no direction beside it: "posted a loss" is still news. */
const STANDALONE: ReadonlyMap<string, number> = new Map([
  ["loss", -1.5],
  ["losses", -1.5],
  ["layoffs", -1.5],
]);

function wordValence(word: string): number {
  const standalone = STANDALONE.get(word);
  if (standalone !== undefined) return standalone;
  if (QUANTITY.has(word) || TOPIC_WORDS.has(word)) return 0;
  return baseValence(word);
}

const NUMBER = /^[-+]?\d[\d,]*(?:\.\d+)?$/;
const COMPARATORS = new Set(["from", "compared", "against", "versus", "vs"]);

function numberOf(token: string | undefined): number | undefined {
  if (token === undefined || !NUMBER.test(token)) return undefined;
  const value = Number(token.replace(/,(?=\d{3}\b)/g, "").replace(/,/g, "."));
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Rule 6, report language: "<quantity> ... EUR 37.5 mn ( EUR 48.2 mn )" and "... 61.3 mn compared
 * to 75.3 mn" / "to 13.1 from 8.7" compare this period's figure with the earlier one; the sign of
 * the change times the nearest preceding quantity's polarity scores like a direction word.
 */
function comparisonScore(tokens: readonly string[]): number {
  let score = 0;
  for (let i = 0; i < tokens.length; i++) {
    const current = numberOf(tokens[i]);
    if (current === undefined) continue;
    // The earlier figure: after "(" or a comparator, within four tokens.
    let earlier: number | undefined;
    let end = i;
    for (let j = i + 1; j <= i + 4 && j < tokens.length; j++) {
      const token = tokens[j] ?? "";
      if (token === "(" || COMPARATORS.has(token)) {
        for (let k = j + 1; k <= j + 4 && k < tokens.length; k++) {
          earlier = numberOf(tokens[k]);
          if (earlier !== undefined) {
            end = k;
            break;
          }
        }
        break;
      }
      if (BOUNDARY.has(token) || numberOf(token) !== undefined) break;
    }
    if (earlier === undefined || earlier === current) continue;
    let polarity: number | undefined;
    for (let j = i - 1; j >= 0 && j >= i - 12; j--) {
      const token = tokens[j] ?? "";
      if (token === ";" || token === ".") break;
      polarity = QUANTITY.get(token);
      if (polarity !== undefined) break;
    }
    if (polarity === undefined) continue;
    score += 2 * Math.sign(current - earlier) * polarity;
    i = end;
  }
  return score;
}

/** PhraseBank and wire copy split decimals ("EUR15 .3 m"): rejoin them before tokenizing. */
function normalise(text: string): string {
  return text
    .slice(0, LEXICON_MAX_CHARS)
    .toLowerCase()
    .replace(/(\d) \.(\d)/g, "$1.$2")
    .replace(/\b(eur|usd|sek|gbp)(?=\d)/g, "$1 ");
}

/** The summed score of one text (exported for the evaluation and tests). Pure. */
export function lexiconScore(text: string): number {
  const tokens = normalise(text).match(TOKEN) ?? [];
  const used = new Uint8Array(tokens.length);
  const contributions = new Float64Array(tokens.length);

  // Phrases first (longest match), then direction × quantity pairs, then single words.
  for (let i = 0; i < tokens.length; i++) {
    for (let n = Math.min(LONGEST_PHRASE, tokens.length - i); n >= 2; n--) {
      const phrase = tokens.slice(i, i + n).join(" ");
      const value = PHRASES.get(phrase);
      if (value === undefined) continue;
      contributions[i] = value;
      used.fill(1, i, i + n);
      i += n - 1;
      break;
    }
  }
  for (let i = 0; i < tokens.length; i++) {
    const value = BEAT_OR_MISS.get(tokens[i] ?? "");
    if (value === undefined || used[i]) continue;
    for (let j = i + 1; j <= i + 3 && j < tokens.length; j++) {
      const token = tokens[j] ?? "";
      if (BOUNDARY.has(token)) break;
      if (!EXPECTATIONS.has(token)) continue;
      contributions[i] = value;
      used.fill(1, i, j + 1);
      break;
    }
  }
  for (let i = 0; i < tokens.length; i++) {
    const direction = DIRECTION.get(tokens[i] ?? "");
    if (direction === undefined || used[i]) continue;
    let best = -1;
    for (let d = 1; d <= PAIR_WINDOW && best < 0; d++) {
      for (const j of [i - d, i + d]) {
        if (j < 0 || j >= tokens.length || used[j]) continue;
        if (QUANTITY.has(tokens[j] ?? "")) {
          best = j;
          break;
        }
      }
      // Stop at a clause boundary on either side.
      const left = tokens[i - d];
      const right = tokens[i + d];
      if (left !== undefined && BOUNDARY.has(left) && right !== undefined && BOUNDARY.has(right)) break;
    }
    if (best < 0) continue;
    const polarity = QUANTITY.get(tokens[best] ?? "") ?? 1;
    contributions[i] = 2 * direction * polarity;
    used[i] = 1;
    used[best] = 1;
  }
  for (let i = 0; i < tokens.length; i++) {
    if (used[i]) continue;
    contributions[i] = wordValence(tokens[i] ?? "");
  }

  let score = 0;
  let negateUntil = -1;
  let intensity = 1;
  // The last scored word: an intensifier right after it ("rose sharply") scales it.
  let lastAt = -2;
  let lastAdded = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] ?? "";
    if (BOUNDARY.has(token) || token === ",") {
      if (token !== ",") negateUntil = -1;
      continue;
    }
    if (NEGATORS.has(token)) {
      negateUntil = i + NEGATION_SCOPE_WORDS;
      continue;
    }
    const boost = INTENSIFIERS.get(token);
    if (boost !== undefined) {
      if (lastAt === i - 1) score += lastAdded * (boost - 1);
      else intensity = boost;
      continue;
    }
    const value = contributions[i] ?? 0;
    if (value === 0) continue;
    lastAdded = (i <= negateUntil ? -value : value) * intensity;
    lastAt = i;
    score += lastAdded;
    intensity = 1;
  }
  return score + comparisonScore(tokens);
}

/** Scores one headline. Pure; exported for tests. */
export function lexiconSentiment(text: string): Sentiment {
  const score = lexiconScore(text);
  // Logits relative to neutral (0): positive wins exactly when score > POSITIVE_THRESHOLD,
  // negative exactly when score < -NEGATIVE_THRESHOLD, so the label is the thresholded decision
  // and the three probabilities still sum to 1.
  const ePos = Math.exp(score - POSITIVE_THRESHOLD);
  const eNeg = Math.exp(-score - NEGATIVE_THRESHOLD);
  const eNeu = 1;
  const total = ePos + eNeg + eNeu;
  return sentimentFrom(ePos / total, eNeg / total, eNeu / total);
}

/** @param options.fallbackReason set when the lexicon stands in for an unavailable FinBERT. */
export function lexiconClassifier(options: { fallbackReason?: string } = {}): Classifier {
  return {
    kind: "lexicon",
    modelId: LEXICON_MODEL_ID,
    modelRevision: LEXICON_REVISION,
    modelDtype: null,
    fallbackReason: options.fallbackReason,
    classify: async (texts) => texts.map(lexiconSentiment),
    close: async () => undefined,
  };
}
