import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import type { Level } from "../common/health.ts";
import { formatProgress } from "./model-progress.ts";

/**
 * What sortation's heartbeat says about its classifier (stage.ts and worker.ts write it into
 * `stage_heartbeats.details`), read back for `opsctl status`, the dev dashboard and `recs show`.
 */
const details = z.looseObject({
  classifier: z.string().optional(),
  modelId: z.string().nullish(),
  modelRevision: z.string().nullish(),
  modelDtype: z.string().nullish(),
  classifierFallback: z.string().nullish(),
  classifierError: z.string().nullish(),
  download: z.object({ file: z.string(), bytes: z.number(), total: z.number() }).nullish(),
});

export interface ClassifierStatus {
  /** finbert | lexicon | downloading | loading | unavailable */
  classifier: string;
  modelId: string | null;
  modelRevision: string | null;
  modelDtype: string | null;
  /** Set when the lexicon stands in for FinBERT: why. */
  fallback: string | null;
  /** Set while FinBERT is required and cannot be had. */
  error: string | null;
  download: { file: string; bytes: number; total: number } | null;
}

export function parseClassifierStatus(raw: unknown): ClassifierStatus | null {
  const parsed = details.safeParse(raw);
  if (!parsed.success || !parsed.data.classifier) return null;
  const d = parsed.data;
  return {
    classifier: d.classifier ?? "unknown",
    modelId: d.modelId ?? null,
    modelRevision: d.modelRevision ?? null,
    modelDtype: d.modelDtype ?? null,
    fallback: d.classifierFallback ?? null,
    error: d.classifierError ?? null,
    download: d.download ?? null,
  };
}

/** The sortation heartbeat's classifier fields, or null before the stage first beat. */
export async function readClassifierStatus(
  db: Pick<CommonQueryMethods, "maybeOne">,
): Promise<ClassifierStatus | null> {
  const row = await db.maybeOne(
    sql.type(
      z.object({ details: z.unknown() }),
    )`SELECT details FROM stage_heartbeats WHERE stage = 'sortation'`,
  );
  return row ? parseClassifierStatus(row.details) : null;
}

/** One line and a level, the same words everywhere an operator looks. */
export function describeClassifier(status: ClassifierStatus | null): { level: Level; message: string } {
  // Not reported yet is a warning, as a stage never seen is for the watchdog (services/common/health.ts).
  if (!status) return { level: "WARN", message: "sortation has not reported its classifier yet" };
  const model = `${status.modelId ?? "?"}${status.modelDtype ? ` ${status.modelDtype}` : ""}${status.modelRevision ? ` @${status.modelRevision.slice(0, 7)}` : ""}`;
  switch (status.classifier) {
    case "finbert":
      return { level: "OK", message: `FinBERT ${model}` };
    case "lexicon":
      return status.fallback
        ? {
            level: "WARN",
            message: `LEXICON FALLBACK: FinBERT unavailable (${status.fallback}); restart sortation to retry`,
          }
        : { level: "OK", message: "lexicon (OPS_SORTATION_CLASSIFIER=lexicon)" };
    case "downloading":
      return {
        level: "WARN",
        message:
          `downloading ${status.modelId ?? "the model"} ${status.download ? formatProgress(status.download) : ""}`.trim(),
      };
    case "loading":
      return { level: "OK", message: `loading ${model}` };
    case "unavailable":
      return {
        level: "ERROR",
        message: `FinBERT required (OPS_SORTATION_CLASSIFIER=finbert) and unavailable: ${status.error ?? "unknown reason"}; nothing is classified`,
      };
    default:
      return { level: "WARN", message: `unknown classifier ${status.classifier}` };
  }
}
