import type { RecommendationSummary } from "../../../services/ops/recs.ts";

/**
 * One recommendation on one line: what `recs --follow` prints into a pipe (no Ink loaded).
 * `approvalLimitSeconds`: require-approval is on with this stale-data limit, so a PENDING row
 * nobody approved says until when it waits.
 */
export function recommendationLine(rec: RecommendationSummary, approvalLimitSeconds?: number | null): string {
  const outcome = rec.rejectedGate ? ` gate=${rec.rejectedGate}` : rec.error ? ` error=${rec.error}` : "";
  return `#${String(rec.id).padEnd(6)} ${rec.asOf.slice(0, 16).replace("T", " ")} ${rec.ticker.padEnd(6)} ${rec.side.padEnd(4)} ${rec.status.padEnd(8)} sentiment ${rec.sentiment.toFixed(2).padStart(5)} (${rec.eventCount} ev)  close ${rec.close.toFixed(2)} sma20 ${rec.sma20.toFixed(2)}${outcome}${approvalNote(rec, approvalLimitSeconds)}`;
}

function approvalNote(rec: RecommendationSummary, limitSeconds: number | null | undefined): string {
  const approval = rec.approval ?? null;
  if (approval)
    return ` ${approval.decision} by ${approval.by}${approval.reason ? ` (${approval.reason})` : ""}`;
  if (rec.status !== "PENDING" || limitSeconds === undefined || limitSeconds === null) return "";
  const until = new Date(Date.parse(rec.asOf) + limitSeconds * 1000).toISOString().slice(11, 16);
  return ` awaiting approval until ${until}Z (opsctl recs approve ${rec.id})`;
}
