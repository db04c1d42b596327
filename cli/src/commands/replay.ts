import { Command, InvalidArgumentError } from "commander";
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
are the stored ones. The cooldown is applied in memory, starting cold at --from.

Examples:
  opsctl replay --from 2026-11-24T14:30Z --to 2026-11-24T21:00Z
  opsctl replay --from 2026-11-24T14:30Z --to 2026-11-25T21:00Z --threshold 0.5 --json`,
    )
    .action(async (options: ReplayOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const { config, logger } = cliContext(globals);
      const [{ withLocalPool }, { postgresParameterStore }, engine, core] = await Promise.all([
        import("../local-database.ts"),
        import("../../../services/common/params/postgres.ts"),
        import("../../../services/dispatch-engine/engine.ts"),
        import("../../../services/dispatch-engine/replay.ts"),
      ]);
      await withLocalPool(
        { config, logger },
        2,
        async (pool) => {
          const stored = engine.ruleParamsFrom(await postgresParameterStore(pool).getAll());
          const params = {
            ...stored,
            ...(options.threshold === undefined ? {} : { threshold: options.threshold }),
          };
          out.note(
            `replaying ${options.from.toISOString()} .. ${options.to.toISOString()} (threshold ${params.threshold})`,
          );
          const result = await core.replay(pool, { from: options.from, to: options.to, params });
          const recommendations = result.recommendations.map((r) => ({
            asOf: r.asOf.toISOString(),
            ticker: r.ticker,
            side: r.side,
            sentiment: r.sentiment,
            eventCount: r.eventCount,
            close: r.close,
            sma20: r.sma20,
            threshold: r.threshold,
            cooldownUntil: r.cooldownUntil.toISOString(),
            eventIds: r.inputs.snapshot.events.map((e) => e.id),
          }));
          out.result(
            {
              from: result.from,
              to: result.to,
              ticks: result.ticks,
              params,
              cooledDown: result.cooledDown,
              recommendations,
            },
            () => {
              const lines = recommendations.map(
                (r) =>
                  `${r.asOf}  ${r.side.padEnd(4)} ${r.ticker.padEnd(8)} sentiment ${r.sentiment.toFixed(3).padStart(6)}  ` +
                  `close ${r.close.toFixed(2)}  sma20 ${r.sma20.toFixed(2)}  events ${r.eventCount}`,
              );
              lines.push(
                `${recommendations.length} recommendation(s) over ${result.ticks} tick(s); ` +
                  `${result.cooledDown} suppressed by the cooldown; nothing written`,
              );
              return lines.join("\n");
            },
          );
          // A replay writes nothing: a read under the local-stack rule.
        },
        "read",
      );
    });
}
