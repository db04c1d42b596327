import { Command } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import { type CloseReport, openBackend, operatorIdentity } from "../backend.ts";
import { type ConfirmEnvironment, requireTypedConfirmation, terminalConfirmEnvironment } from "../confirm.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

function describe(report: CloseReport): string {
  const lines = report.requested.map(
    (r) => `exit #${r.exitId}: sell ${r.quantity} ${r.ticker} at market (${report.account})`,
  );
  for (const p of report.alreadyPending)
    lines.push(`${p.ticker}: exit #${p.exitId} is already waiting; left as it is`);
  if (report.requested.length > 0) {
    lines.push(
      `requested by ${report.by}${report.reason ? ` (${report.reason})` : ""}; the dispatcher decides it on its next pass (the kill switch and halted refuse it; reducing lets it through): opsctl status shows the result`,
    );
  }
  return lines.join("\n");
}

/**
 * `opsctl close TICKER...|--all`: a market exit of whole positions now, queued for the dispatcher
 * (dispatch_exits), which sends it through the gates' reducing path. Money moves, so a person
 * types what is closed unless --yes is given; the request records who asked and why.
 */
export function closeCommand(options: { confirm?: ConfirmEnvironment } = {}): Command {
  return new Command("close")
    .description(
      "sell whole positions at market now, through the dispatcher's exit gates (reducing passes, halted refuses)",
    )
    .argument("[tickers...]", "the tickers to close")
    .option("--all", "close every position of the account the dispatcher trades now")
    .option("--reason <text>", "why; stored with the exit request")
    .option("-y, --yes", "skip the typed confirmation")
    .addHelpText(
      "after",
      `
The exit is an order of the dispatcher's own (not a recommendation): it goes before any
recommendation on the dispatcher's next pass, in the dry-run account while dry-run is on, at the
broker otherwise. Each request records who asked (user@host), when and --reason.

JSON: {"account","by","reason","requested":[{"exitId","ticker","quantity"}],"alreadyPending":[{"ticker","exitId"}]}

Examples:
  opsctl close AAPL --reason "earnings tonight"
  opsctl close --all --yes --json`,
    )
    .action(
      async (
        tickers: string[],
        flags: { all?: boolean; reason?: string; yes?: boolean },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const out = createOutput({ json: globals.json === true });
        if (flags.all === true && tickers.length > 0) {
          throw new OperatorError("BAD_ARGUMENT", "give tickers or --all, not both", {
            hint: "opsctl close AAPL MSFT, or opsctl close --all",
          });
        }
        if (flags.all !== true && tickers.length === 0) {
          throw new OperatorError("BAD_ARGUMENT", "close what? give a ticker or --all", {
            hint: "opsctl close AAPL, or opsctl close --all",
          });
        }
        const bad = tickers.filter((t) => !/^[A-Za-z][A-Za-z0-9.-]{0,15}$/.test(t));
        if (bad.length > 0) {
          throw new OperatorError("BAD_ARGUMENT", `not a ticker: ${bad.join(", ")}`, {
            hint: "tickers as the pipeline spells them, e.g. AAPL or BRK.B",
          });
        }
        const wanted = flags.all === true ? "all" : tickers.map((t) => t.toUpperCase());
        const expected = wanted === "all" ? "all" : wanted.join(" ");
        await requireTypedConfirmation(
          options.confirm ?? terminalConfirmEnvironment(flags.yes === true),
          `Sell ${wanted === "all" ? "EVERY position" : wanted.join(", ")} at market`,
          expected,
          `opsctl close ${wanted === "all" ? "--all" : wanted.join(" ")}`,
        );
        const backend = await openBackend(cliContext(globals), { access: "write" });
        try {
          const report = await backend.closePositions({
            tickers: wanted,
            reason: flags.reason ?? null,
            who: operatorIdentity(),
          });
          out.result(report, () => describe(report));
        } finally {
          await backend.close();
        }
      },
    );
}
