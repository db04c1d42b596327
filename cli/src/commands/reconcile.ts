import { Command } from "commander";
import type { ReconcileDifference } from "../backend.ts";
import { openBackend, operatorIdentity } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

function side(value: Record<string, unknown> | null): string {
  if (value === null) return "(none)";
  return Object.entries(value)
    .map(([key, v]) => `${key}=${v === null ? "-" : String(v)}`)
    .join(" ");
}

function describe(d: ReconcileDifference): string {
  return `#${d.id} ${d.kind} ${d.subject}: broker ${side(d.broker)} | database ${side(d.pipeline)} (since ${d.foundAt})`;
}

/**
 * `opsctl reconcile`: the differences the dispatcher found between the broker and the database,
 * and `--accept` to adopt the broker's view (each row records who accepted it and when).
 */
export function reconcileCommand(): Command {
  return new Command("reconcile")
    .description(
      "show broker vs database differences (trading is reducing while any is open); --accept adopts the broker's view",
    )
    .option(
      "--accept",
      "adopt the broker's side of every open difference (audited: who and when, on each row)",
    )
    .addHelpText(
      "after",
      `
The dispatcher compares the broker's positions, open orders and cash with the database at start
and every 5 minutes. While a difference is open, trading is reducing: exits pass, entries are refused.

JSON: {"tradingState","lastRunAt","lastRunError","differences":[{"id","kind","subject","broker","pipeline","foundAt","lastSeenAt"}]};
--accept: {"accepted":[...],"by"}

Examples:
  opsctl reconcile
  opsctl reconcile --accept --json`,
    )
    .action(async (options: { accept?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals), { access: options.accept ? "write" : "read" });
      try {
        if (options.accept) {
          const by = operatorIdentity();
          const accepted = await backend.acceptReconcile(by);
          out.result({ accepted, by }, () =>
            accepted.length === 0
              ? "nothing to accept: broker and database agree"
              : [
                  `accepted ${accepted.length} difference(s) as ${by}; trading is active again`,
                  ...accepted.map(describe),
                ].join("\n"),
          );
          return;
        }
        const report = await backend.reconcileReport();
        out.result(report, () =>
          [
            `trading: ${report.tradingState}; last reconciliation: ${report.lastRunAt ?? "never"}${report.lastRunError ? ` (failed: ${report.lastRunError})` : ""}`,
            ...(report.differences.length === 0
              ? ["broker and database agree"]
              : [...report.differences.map(describe), "accept the broker's view: opsctl reconcile --accept"]),
          ].join("\n"),
        );
      } finally {
        await backend.close();
      }
    });
}
