import * as z from "zod";
import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";
import { explainRecommendation, listRecommendations, RECOMMENDATION_STATUSES } from "../common/ops/recs.ts";
import { readStatusSnapshot } from "../common/ops/status.ts";
import { listParamAudit, recordParamAudit } from "../common/params/postgres.ts";

/**
 * The ops-api: the fixed set of operations opsctl may run against a private database on AWS,
 * through a Lambda inside the VPC invoked with IAM. Every request is validated here; there is no
 * operation that takes SQL, a table name or a column name, so the function's reach is exactly this
 * list. The same functions serve the local target directly.
 */
export const opsRequestSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("status.snapshot") }),
  z.object({
    op: z.literal("recs.list"),
    status: z.enum(RECOMMENDATION_STATUSES).optional(),
    afterId: z.number().int().min(0).optional(),
    ticker: z
      .string()
      .regex(/^[A-Z][A-Z0-9.-]{0,14}$/)
      .optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.number().int().min(1).max(10_000),
  }),
  z.object({ op: z.literal("recs.show"), id: z.number().int().positive() }),
  z.object({ op: z.literal("params.audit.list"), limit: z.number().int().min(1).max(1_000) }),
  z.object({
    op: z.literal("params.audit.record"),
    entry: z.object({
      key: z.string().regex(/^[a-z][a-z0-9-]*$/),
      oldValue: z.json(),
      newValue: z.json(),
      changedBy: z.string().min(1).max(200),
      reason: z.string().max(500).nullable(),
    }),
  }),
]);
export type OpsRequest = z.infer<typeof opsRequestSchema>;

/** The envelope every invocation returns, so a caller tells an operator error from a crash. */
export type OpsResponse =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string; hint: string | null } };

export class OpsRequestError extends OperatorError {
  override readonly name = "OpsRequestError";
}

/**
 * Runs one operation. JSON in, JSON out (Dates as ISO strings, timestamps as epoch ms).
 * @throws OpsRequestError when the request is not one of the operations; slonik errors from the database.
 */
export async function runOperation(db: DatabasePool, clock: Clock, raw: unknown): Promise<unknown> {
  const parsed = opsRequestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new OpsRequestError(
      "OPS_REQUEST_INVALID",
      `not an ops-api operation: ${parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`).join("; ")}`,
      { hint: "upgrade opsctl to the version of the deployed stack" },
    );
  }
  const request = parsed.data;
  switch (request.op) {
    case "status.snapshot":
      return readStatusSnapshot(db, clock.now());
    case "recs.list":
      return listRecommendations(db, {
        status: request.status,
        afterId: request.afterId,
        ticker: request.ticker,
        since: request.since === undefined ? undefined : new Date(request.since),
        limit: request.limit,
      });
    case "recs.show":
      return explainRecommendation(db, request.id);
    case "params.audit.list":
      return (await listParamAudit(db, request.limit)).map((entry) => ({
        ...entry,
        changedAt: entry.changedAt.toISOString(),
      }));
    case "params.audit.record":
      await recordParamAudit(db, { ...request.entry, store: "ssm" });
      return { recorded: true };
  }
}

/** Wraps runOperation into the response envelope: operator errors travel as data, bugs as a thrown error. */
export async function handleOperation(db: DatabasePool, clock: Clock, raw: unknown): Promise<OpsResponse> {
  try {
    return { ok: true, result: await runOperation(db, clock, raw) };
  } catch (error) {
    if (error instanceof OperatorError) {
      return { ok: false, error: { code: error.code, message: error.message, hint: error.hint ?? null } };
    }
    throw error;
  }
}
