import { Command, InvalidArgumentError } from "commander";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

function parseTime(value: string): Date {
  const at = new Date(value);
  if (Number.isNaN(at.getTime()) || !/\d{4}-\d{2}-\d{2}/.test(value)) {
    throw new InvalidArgumentError("expected an ISO 8601 time such as 2026-11-26T14:30Z");
  }
  return at;
}

function parseThreshold(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError("expected a number in (0, 1]");
  return n;
}

interface ReplayOptions {
  from: Date;
  to: Date;
  threshold?: number;
}

export function replayCommand(): Command {
  return new Command("replay")
    .description(
      "run the dispatch-engine rule over stored history at every 5-minute tick, as of that tick " +
        "(no look-ahead), and print what it would have recommended; writes nothing",
    )
    .requiredOption("--from <time>", "first tick (ISO 8601, rounded up to 5 minutes)", parseTime)
    .requiredOption("--to <time>", "last tick (ISO 8601, rounded down to 5 minutes)", parseTime)
    .option(
      "--threshold <x>",
      "sentiment threshold instead of the stored sentiment-threshold",
      parseThreshold,
    )
    .addHelpText(
      "after",
      `
The other parameters (min-events, lookback-minutes, cooldown-minutes, max-candle-age-seconds)
are the target's stored ones (the params table locally, SSM with --target aws). The cooldown is
applied in memory, starting cold at --from. Each BUY is then traded as dry-run would: its exits
(exit-stop-loss-pct, exit-take-profit-pct, exit-max-holding-minutes) applied to the candles after
it, a SELL closing it, with the simulator's slippage and fees; the P&L is printed (JSON: trades, pnl).

Examples:
  opsctl replay --from 2026-11-24T14:30Z --to 2026-11-24T21:00Z
  opsctl replay --from 2026-11-24T14:30Z --to 2026-11-25T21:00Z --threshold 0.5 --json
  opsctl replay --from 2026-11-24T14:30Z --to 2026-11-24T21:00Z --target aws`,
    )
    .action(async (options: ReplayOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals));
      try {
        const report = await backend.replay({
          from: options.from,
          to: options.to,
          threshold: options.threshold,
        });
        out.note(
          `replayed ${report.from} .. ${report.to} on the ${backend.target} stack (threshold ${report.params.threshold})`,
        );
        const { recommendations } = report;
        out.result(report, () => {
          const lines = recommendations.map(
            (r) =>
              `${r.asOf}  ${r.side.padEnd(4)} ${r.ticker.padEnd(8)} sentiment ${r.sentiment.toFixed(3).padStart(6)}  ` +
              `close ${r.close.toFixed(2)}  sma20 ${r.sma20.toFixed(2)}  stories ${r.eventCount}`,
          );
          lines.push(
            `${recommendations.length} recommendation(s) over ${report.ticks} tick(s); ` +
              `${report.cooledDown} suppressed by the cooldown; nothing written`,
          );
          if (report.trades.length > 0) {
            // The trades they would have made, exits applied, with the simulator's slippage and fees.
            for (const t of report.trades) {
              lines.push(
                `trade ${t.ticker.padEnd(8)} ${t.entryAt} @ ${t.entryPrice.toFixed(2)} -> ${t.exitAt} @ ${t.exitPrice.toFixed(2)} ` +
                  `${t.exitReason.padEnd(11)} P&L ${t.pnl.toFixed(2)}`,
              );
            }
            const byReason = Object.entries(report.pnl.exits)
              .map(([reason, n]) => `${n} ${reason}`)
              .join(", ");
            lines.push(
              `P&L: realised ${report.pnl.realisedPnl.toFixed(2)}, unrealised ${report.pnl.unrealisedPnl.toFixed(2)}, ` +
                `fees ${report.pnl.fees.toFixed(2)} over ${report.pnl.trades} trade(s)${byReason ? ` (exits: ${byReason})` : ""}; ` +
                `slippage ${report.costs.slippageBps} bps`,
            );
          }
          return lines.join("\n");
        });
      } finally {
        await backend.close();
      }
    });
}
