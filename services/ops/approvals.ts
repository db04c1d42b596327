import * as z from "zod";
import { RECOMMENDATIONS_CHANNEL } from "../common/channels.ts";
import { type DatabasePool, sql } from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";

/**
 * A human in the loop (issue 15): `opsctl recs approve|reject ID`. With the require-approval
 * parameter on, the dispatcher claims no recommendation until it is approved (then the gates
 * decide as usual); a rejection decides it at once, REJECTED at gate `approval`. Either is one
 * UPDATE guarded by `status = 'PENDING' AND approval IS NULL`, so a recommendation is decided
 * once however many operators press at the same moment: the second UPDATE waits for the first's
 * row lock, re-reads the row and finds it decided. Who, when and why are stored on the row.
 */

export type ApprovalDecision = "approved" | "rejected";

export interface ApprovalRequest {
  id: number;
  decision: ApprovalDecision;
  /** The operator as the audit records it (OS user@host locally, the IAM principal on AWS). */
  by: string;
  reason: string | null;
  now: Date;
}

export interface ApprovalResult {
  id: number;
  ticker: string;
  side: "BUY" | "SELL";
  decision: ApprovalDecision;
  by: string;
  at: string;
  reason: string | null;
  /** The recommendation's status after the decision: PENDING (approved: the dispatcher decides next) or REJECTED. */
  status: "PENDING" | "REJECTED";
}

const decidedRow = z.object({
  id: z.number(),
  ticker: z.string(),
  side: z.enum(["BUY", "SELL"]),
  status: z.enum(["PENDING", "REJECTED"]),
  approval: z.enum(["approved", "rejected"]),
  approval_by: z.string(),
  approval_at: z.number(),
  approval_reason: z.string().nullable(),
});

const currentRow = z.object({
  status: z.string(),
  rejected_gate: z.string().nullable(),
  approval: z.string().nullable(),
  approval_by: z.string().nullable(),
  approval_at: z.number().nullable(),
});

/**
 * Records an operator's approval or rejection. An approval wakes the dispatchers (NOTIFY on
 * the recommendations channel, delivered at commit).
 * @throws OperatorError REC_NOT_FOUND (no such id), REC_IN_FLIGHT (a reject of one whose broker
 *   order may exist: the dispatcher recovers it), REC_ALREADY_DECIDED (not PENDING, or an
 *   approval or rejection is recorded already: nothing changes).
 */
export async function decideRecommendation(
  db: DatabasePool,
  request: ApprovalRequest,
): Promise<ApprovalResult> {
  const at = sql.timestamp(request.now);
  return db.transaction(async (tx) => {
    const row =
      request.decision === "approved"
        ? await tx.maybeOne(sql.type(decidedRow)`
            UPDATE dispatch_recommendations SET approval = 'approved', approval_by = ${request.by},
              approval_at = ${at}, approval_reason = ${request.reason}
            WHERE id = ${request.id} AND status = 'PENDING' AND approval IS NULL
            RETURNING id, ticker, side, status, approval, approval_by, approval_at, approval_reason`)
        : await tx.maybeOne(sql.type(decidedRow)`
            UPDATE dispatch_recommendations SET approval = 'rejected', approval_by = ${request.by},
              approval_at = ${at}, approval_reason = ${request.reason},
              status = 'REJECTED', rejected_gate = 'approval', decided_at = ${at},
              gate_decisions = ${sql.jsonb([
                {
                  gate: "approval",
                  passed: false,
                  reason: `rejected by ${request.by}${request.reason ? `: ${request.reason}` : ""}`,
                  values: {
                    decision: "rejected",
                    by: request.by,
                    at: request.now.toISOString(),
                    reason: request.reason,
                  },
                },
              ])}
            WHERE id = ${request.id} AND status = 'PENDING' AND approval IS NULL
              -- An order may be at the broker: the dispatcher recovers it (asks the broker first).
              AND NOT EXISTS (SELECT 1 FROM dispatch_broker_intents i WHERE i.recommendation_id = ${request.id})
            RETURNING id, ticker, side, status, approval, approval_by, approval_at, approval_reason`);
    if (!row) throw await whyUndecidable(tx, request.id);
    if (row.approval === "approved") {
      await tx.query(sql.unsafe`SELECT pg_notify(${RECOMMENDATIONS_CHANNEL}, ${String(row.id)})`);
    }
    return {
      id: row.id,
      ticker: row.ticker,
      side: row.side,
      decision: row.approval,
      by: row.approval_by,
      at: new Date(row.approval_at).toISOString(),
      reason: row.approval_reason,
      status: row.status,
    };
  });
}

async function whyUndecidable(tx: Pick<DatabasePool, "maybeOne">, id: number): Promise<OperatorError> {
  const current = await tx.maybeOne(sql.type(currentRow)`
    SELECT status, rejected_gate, approval, approval_by, approval_at FROM dispatch_recommendations WHERE id = ${id}`);
  if (!current) {
    return new OperatorError("REC_NOT_FOUND", `no recommendation #${id}`, {
      hint: "list those waiting with opsctl recs --pending",
    });
  }
  if (current.status === "PENDING" && current.approval === null) {
    // Only a committed broker intent leaves an undecided PENDING row unrejectable.
    return new OperatorError(
      "REC_IN_FLIGHT",
      `recommendation #${id} has an order on its way to the broker: the dispatcher decides it (it asks the broker first); nothing changed`,
      { hint: `see what happened: opsctl recs show ${id}, opsctl orders --open` },
    );
  }
  const when = current.approval_at === null ? "" : ` at ${new Date(current.approval_at).toISOString()}`;
  const message =
    current.approval !== null
      ? `recommendation #${id} was already ${current.approval} by ${current.approval_by}${when} (now ${current.status}): nothing changed`
      : `recommendation #${id} is already decided: ${current.status}${current.rejected_gate ? ` at gate ${current.rejected_gate}` : ""}; nothing changed`;
  return new OperatorError("REC_ALREADY_DECIDED", message, { hint: `see why: opsctl recs show ${id}` });
}
