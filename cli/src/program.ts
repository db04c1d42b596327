import { Command, Option } from "commander";
import { backupCommand } from "./commands/backup.ts";
import { closeCommand } from "./commands/close.ts";
import { completionCommand } from "./commands/completion.ts";
import { costCommand } from "./commands/cost.ts";
import { devCommand } from "./commands/dev.ts";
import { dryRunCommand } from "./commands/dry-run.ts";
import { feedsCommand } from "./commands/feeds.ts";
import { killSwitchCommand } from "./commands/kill-switch.ts";
import { latencyCommand } from "./commands/latency.ts";
import { logsCommand } from "./commands/logs.ts";
import { migrateCommand } from "./commands/migrate.ts";
import { ordersCommand } from "./commands/orders.ts";
import { paramsCommand } from "./commands/params.ts";
import { positionsCommand } from "./commands/positions.ts";
import { reconcileCommand } from "./commands/reconcile.ts";
import { recsCommand } from "./commands/recs.ts";
import { replayCommand } from "./commands/replay.ts";
import { statusCommand } from "./commands/status.ts";
import { tickersCommand } from "./commands/tickers.ts";
import { tradingCommand } from "./commands/trading.ts";
import { preloadCliContext } from "./context.ts";
import { EXIT, reportError } from "./output.ts";

/** Builds the program; exported so tests can parse without spawning. */
export function buildProgram(argv: readonly string[] = process.argv): Command {
  const json = argv.includes("--json");
  const program = new Command("opsctl")
    .description("operate ops-pipeline: the local stack (embedded PostgreSQL) or an AWS stack")
    .version("0.1.0")
    .option("--json", 'machine-readable output on stdout (stable shape); errors too, as {"error": …}')
    .option("--no-color", "no colour (as NO_COLOR=1 does), Ink screens and logs included")
    .addOption(new Option("--target <target>", "which stack to operate").choices(["local", "aws"]))
    // Config (zod) and the logger (pino) load only once a command is about to run, not for --help
    // or a usage error; every action can then call cliContext synchronously.
    .hook("preAction", async () => {
      // --no-color reaches the logger and anything that reads NO_COLOR (the launcher already set
      // FORCE_COLOR for chalk before anything was loaded).
      if (program.opts<{ color?: boolean }>().color === false) process.env.NO_COLOR ||= "1";
      await preloadCliContext();
    });
  for (const command of [
    migrateCommand(),
    devCommand(),
    statusCommand(),
    recsCommand(),
    latencyCommand(),
    dryRunCommand(),
    killSwitchCommand(),
    paramsCommand(),
    logsCommand(),
    replayCommand(),
    feedsCommand(),
    tickersCommand(),
    backupCommand(),
    reconcileCommand(),
    positionsCommand(),
    ordersCommand(),
    tradingCommand(),
    closeCommand(),
    costCommand(),
    completionCommand(),
  ]) {
    program.addCommand(command);
  }
  // Usage errors throw (main reports them) and print as they are, with a pointer to --help. Set
  // on every command, all the way down: subcommands added with addCommand do not inherit it.
  const configure = (command: Command) => {
    // --help names every required option as such (commander lists them like optional ones).
    for (const option of command.options) {
      if (option.mandatory && !option.description.includes("(required)")) option.description += " (required)";
    }
    command
      .exitOverride()
      .showHelpAfterError(json ? false : "(run with --help for usage)")
      // With --json the error is printed once, as JSON on stdout, by reportError.
      .configureOutput({ outputError: (text, write) => (json ? undefined : write(text)) });
    for (const child of command.commands) configure(child);
  };
  configure(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram(argv);
  try {
    await program.parseAsync(argv as string[]);
    // A command that reports a verdict (status: 3 warn, 4 error) sets process.exitCode itself.
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (error) {
    return reportError(error, argv.includes("--json"));
  }
}
