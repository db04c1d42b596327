import { Command } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import { type ApprovalResult, type OpsBackend, openBackend, operatorIdentity } from "../backend.ts";
import { type ConfirmEnvironment, requireTypedConfirmation, terminalConfirmEnvironment } from "../confirm.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

/**
 * `opsctl recs approve|reject ID`: the human in the loop (require-approval). Approving lets the
 * dispatcher decide the recommendation (the gates as usual); with dry-run off that places a
 * broker order, so it is type-to-confirm (the ticker) unless --yes. Rejecting decides it at
 * once: REJECTED at gate `approval`. Each records who, when and --reason on the row.
 */

export interface DecisionOutcome extends ApprovalResult {
  /** require-approval as it stood: off, an approval changes nothing the dispatcher waits for. */
  approvalRequired: boolean;
  dryRun: boolean;
}

/**
 * Records the decision after the guard (approvals with dry-run off).
 * @throws OperatorError REC_NOT_FOUND, REC_ALREADY_DECIDED, CONFIRMATION_REQUIRED, NOT_CONFIRMED.
 */
export async function decide(
  backend: OpsBackend,
  request: { id: number; decision: "approved" | "rejected"; reason: string | null },
  options: { yes: boolean; retry: string; confirm?: ConfirmEnvironment; by?: string },
): Promise<DecisionOutcome> {
  const params = await backend.params().getAll();
  if (request.decision === "approved" && params["dry-run"] === false) {
    // The id alone is easy to mistype: the operator types the ticker they mean to buy or sell.
    const found = await backend.listRecommendations({ afterId: request.id - 1, limit: 1 });
    const rec = found.recommendations.find((r) => r.id === request.id);
    if (!rec) {
      throw new OperatorError("REC_NOT_FOUND", `no recommendation #${request.id}`, {
        hint: "list those waiting with opsctl recs --pending",
      });
    }
    await requireTypedConfirmation(
      options.confirm ?? terminalConfirmEnvironment(options.yes),
      `Approving #${rec.id} ${rec.side} ${rec.ticker} on the ${backend.target} stack with dry-run OFF: the dispatcher will place a broker order.`,
      rec.ticker,
      options.retry,
    );
  }
  const result = await backend.decideRecommendation({
    id: request.id,
    decision: request.decision,
    by: options.by ?? operatorIdentity(),
    reason: request.reason,
  });
  return { ...result, approvalRequired: params["require-approval"], dryRun: params["dry-run"] };
}

export function describeDecision(outcome: DecisionOutcome): string {
  const head = `#${outcome.id} ${outcome.side} ${outcome.ticker} ${outcome.decision} by ${outcome.by} at ${outcome.at}${outcome.reason ? ` (${outcome.reason})` : ""}`;
  if (outcome.decision === "rejected") return `${head}\nREJECTED at gate approval: it will not execute`;
  const next = outcome.dryRun
    ? "the dispatcher decides it next (the gates as usual; dry-run: simulated)"
    : "the dispatcher decides it next (the gates as usual; dry-run is OFF: a broker order if they pass)";
  return outcome.approvalRequired
    ? `${head}\n${next}`
    : `${head}\nnote: require-approval is off, so the dispatcher was not waiting for this approval`;
}

export function decisionCommand(verb: "approve" | "reject"): Command {
  const decision = verb === "approve" ? "approved" : "rejected";
  return new Command(verb)
    .description(
      verb === "approve"
        ? "approve a PENDING recommendation (require-approval): the dispatcher then decides it"
        : "reject a PENDING recommendation: REJECTED at gate approval, never executed",
    )
    .argument("<id>", "the recommendation id", (text: string) => {
      const n = Number(text);
      if (!Number.isSafeInteger(n) || n < 1) {
        throw new OperatorError("BAD_ARGUMENT", `recommendation id ${text}: expected a positive integer`, {
          hint: "list them with opsctl recs --pending",
        });
      }
      return n;
    })
    .option("--reason <text>", "why, recorded with the decision")
    .option(
      "-y, --yes",
      verb === "approve"
        ? "approve with dry-run off without typing the ticker (required without a terminal)"
        : "accepted for symmetry; rejecting never asks",
    )
    .addHelpText(
      "after",
      `
With the require-approval parameter on (opsctl params set require-approval true), the dispatcher
claims no recommendation until it is approved; one still unapproved past
max-recommendation-age-seconds is REJECTED at gate approval. A decision is made once: a second
approve, or a reject after an approve, changes nothing (exit 2, REC_ALREADY_DECIDED). Each records
who (OS user@host; on --target aws the caller's IAM principal), when, and --reason.
${verb === "approve" ? "With dry-run off you type the recommendation's ticker to confirm (money moves).\n" : ""}
JSON: {"id","ticker","side","decision","by","at","reason","status","approvalRequired","dryRun"}

Examples:
  opsctl recs --pending
  opsctl recs ${verb} 42 --reason "${verb === "approve" ? "earnings beat confirmed" : "headline is a rumour"}"`,
    )
    .action(async (id: number, options: { reason?: string; yes?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals), { access: "write" });
      try {
        const outcome = await decide(
          backend,
          { id, decision, reason: options.reason ?? null },
          {
            yes: options.yes === true,
            retry: `opsctl recs ${verb} ${id}${globals.target ? ` --target ${globals.target}` : ""}`,
          },
        );
        out.result(outcome, () => describeDecision(outcome));
      } finally {
        await backend.close();
      }
    });
}
