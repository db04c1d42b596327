import { Command, Option } from "commander";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import { positionsText } from "../ui/trading-lines.ts";

/**
 * `opsctl positions`: what the dispatcher holds, per account, marked at the newest trusted close:
 * quantity, average price, last close and its time, unrealised P&L, when it opened, its exits.
 */
export function positionsCommand(): Command {
  return new Command("positions")
    .description("open positions: quantity, average price, last close, unrealised P&L, opened at, exits")
    .addOption(
      new Option("--account <account>", "only this account (default: every account)").choices([
        "dry-run",
        "alpaca-paper",
      ]),
    )
    .addHelpText(
      "after",
      `
dry-run is the simulator's paper portfolio; alpaca-paper mirrors the broker's fills. A position is
marked at its ticker's newest trusted close (lane_telemetry), or at cost without one.

JSON: {"asOf","positions":[{"account","ticker","quantity","avgPrice","lastPrice","lastPriceAt","costBasis",
"marketValue","unrealisedPnl","unrealisedPct","openedAt","exits":{"stopLoss","takeProfit","expiresAt"}|null}],
"totals":[{"account","positions","costBasis","marketValue","unrealisedPnl","unrealisedPct"}]}

Examples:
  opsctl positions
  opsctl positions --account alpaca-paper --json | jq '.totals'`,
    )
    .action(async (options: { account?: "dry-run" | "alpaca-paper" }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals));
      try {
        const report = await backend.positions(options.account);
        out.result(report, () => positionsText(report));
      } finally {
        await backend.close();
      }
    });
}
