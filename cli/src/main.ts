import { Command, Option } from "commander";
import { devCommand } from "./commands/dev.ts";
import { migrateCommand } from "./commands/migrate.ts";
import { tickersCommand } from "./commands/tickers.ts";
import { EXIT, reportError } from "./output.ts";

/** Builds the program; exported so tests can parse without spawning. */
export function buildProgram(): Command {
  const program = new Command("opsctl")
    .description("operate ops-pipeline: the local stack (embedded PostgreSQL) or an AWS stack")
    .version("0.1.0")
    .option("--json", "machine-readable output on stdout (stable shape)")
    .addOption(new Option("--target <target>", "which stack to operate").choices(["local", "aws"]))
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });
  for (const command of [migrateCommand(), devCommand(), tickersCommand()]) {
    program.addCommand(command.exitOverride());
  }
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return EXIT.ok;
  } catch (error) {
    return reportError(error, argv.includes("--json"));
  }
}

process.exitCode = await main(process.argv);
