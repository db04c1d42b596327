/** The classifier port: FinBERT (finbert.ts) or the offline lexicon (lexicon.ts). */

export type SentimentLabel = "positive" | "negative" | "neutral";

export interface Sentiment {
  label: SentimentLabel;
  pPositive: number;
  pNegative: number;
  pNeutral: number;
  /** pPositive - pNegative, in [-1, 1]. */
  score: number;
}

export interface Classifier {
  /** Stored in inbound_events_classified.classifier on every row it scores. */
  readonly kind: "finbert" | "lexicon";
  readonly modelId: string;
  readonly modelRevision: string | null;
  readonly modelDtype: string | null;
  /**
   * Set when this is the lexicon standing in for FinBERT: why the model could not be had. The
   * heartbeat, `opsctl status`, the dev dashboard and `recs show` say so.
   */
  readonly fallbackReason?: string | undefined;
  /**
   * One sentiment per text, in order.
   * @throws whatever the backend throws; the worker retries row by row to find a poison input.
   */
  classify(texts: readonly string[]): Promise<Sentiment[]>;
  close(): Promise<void>;
}

/** Builds a Sentiment from three probabilities; the label is the most probable class. */
export function sentimentFrom(pPositive: number, pNegative: number, pNeutral: number): Sentiment {
  const clamp = (p: number) => Math.min(1, Math.max(0, p));
  const pos = clamp(pPositive);
  const neg = clamp(pNegative);
  const neu = clamp(pNeutral);
  // Ties go to neutral: a headline the scorer cannot separate is not a signal.
  const label: SentimentLabel =
    pos > neg && pos > neu ? "positive" : neg > pos && neg > neu ? "negative" : "neutral";
  return {
    label,
    pPositive: pos,
    pNegative: neg,
    pNeutral: neu,
    score: Math.min(1, Math.max(-1, pos - neg)),
  };
}

/** Longest text handed to a scorer: FinBERT reads 512 tokens (~2,500 characters) at most. */
export const MAX_SCORED_CHARS = 4_000;

// C0/C1 control characters (tab, newline and carriage return included): whitespace to a scorer.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;
// The same without tab, newline and carriage return, which are common in titles and not news.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNUSUAL_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/**
 * What a scorer sees of a headline: control characters as spaces, at most MAX_SCORED_CHARS.
 * Says whether it was cut and whether it held controls other than tab/newline, for the log.
 */
export function prepareText(text: string): { text: string; truncated: boolean; controls: boolean } {
  const truncated = text.length > MAX_SCORED_CHARS;
  const cut = truncated ? text.slice(0, MAX_SCORED_CHARS) : text;
  return { text: cut.replace(CONTROL, " "), truncated, controls: UNUSUAL_CONTROL.test(cut) };
}
