import type { RecommendationSummary } from "../../../services/ops/recs.ts";

/** One recommendation on one line: what `recs --follow` prints into a pipe (no Ink loaded). */
export function recommendationLine(rec: RecommendationSummary): string {
  const outcome = rec.rejectedGate ? ` gate=${rec.rejectedGate}` : rec.error ? ` error=${rec.error}` : "";
  return `#${String(rec.id).padEnd(6)} ${rec.asOf.slice(0, 16).replace("T", " ")} ${rec.ticker.padEnd(6)} ${rec.side.padEnd(4)} ${rec.status.padEnd(8)} sentiment ${rec.sentiment.toFixed(2).padStart(5)} (${rec.eventCount} ev)  close ${rec.close.toFixed(2)} sma20 ${rec.sma20.toFixed(2)}${outcome}`;
}
