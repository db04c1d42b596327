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
