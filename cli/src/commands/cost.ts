import { Command } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import type { GlobalOptions } from "../context.ts";
import { createOutput, EXIT } from "../output.ts";

/**
 * `opsctl cost`: the monthly list-price cost of a stack's Pulumi.<stack>.yaml, from the same pure
 * model `npm run cost` uses (stack/cost.ts). Reads no AWS and no database, so it needs neither the
 * target nor its configuration. Exit 0 within the stack's budget, 3 (EXIT.warn) over it.
 */
export function costCommand(): Command {
  return new Command("cost")
    .description("price a stack's Pulumi.<stack>.yaml at AWS list prices against its monthly budget")
    .option("--stack <name>", "which Pulumi.<stack>.yaml to price", "dev")
    .option("--dir <folder>", "folder holding the Pulumi.<stack>.yaml files", ".")
    .addHelpText(
      "after",
      `
Exit codes: 0 within budget, 3 over budget, 2 no such stack file or a bad value in it.

Examples:
  opsctl cost                      price Pulumi.dev.yaml, line by line, with the choices that move it
  opsctl cost --stack prod         price Pulumi.prod.yaml
  opsctl cost --json | jq .totalUsd`,
    )
    .action(async (options: { stack: string; dir: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      // Lazy: only this command loads the model.
      const [{ formatCostReport }, { StackFileMissingError, stackCostFromFile }, { StackConfigError }] =
        await Promise.all([
          import("../../../stack/cost.ts"),
          import("../../../stack/cost-file.ts"),
          import("../../../stack/config.ts"),
        ]);
      let cost: ReturnType<typeof stackCostFromFile>;
      try {
        cost = stackCostFromFile(options.stack, options.dir);
      } catch (error) {
        if (error instanceof StackFileMissingError) {
          throw new OperatorError("STACK_FILE_MISSING", `${error.file} not found`, {
            hint: "run from the repository root (or pass --dir), and name an existing stack with --stack",
            cause: error,
          });
        }
        if (error instanceof StackConfigError) {
          throw new OperatorError("STACK_CONFIG_INVALID", error.message, {
            hint: `fix Pulumi.${options.stack}.yaml`,
            cause: error,
          });
        }
        throw error;
      }
      const { report, moves } = cost;
      out.result(
        roundUsd({
          stack: report.stack,
          spot: report.spot,
          totalUsd: report.totalUsd,
          listUsd: report.listUsd,
          bestCaseUsd: report.bestCaseUsd,
          budgetUsd: report.budgetUsd,
          withinBudget: report.withinBudget,
          lines: report.lines,
          moves,
        }),
        () => formatCostReport(report, moves),
      );
      process.exitCode = report.withinBudget ? EXIT.ok : EXIT.warn;
    });
}

/**
 * Every number under a key ending in "Usd", to a hundredth of a cent: list prices summed in binary
 * floating point print as 2.3000000000000003 otherwise.
 */
export function roundUsd<T>(value: T, key = ""): T {
  if (typeof value === "number")
    return (key.endsWith("Usd") ? Math.round(value * 10_000) / 10_000 : value) as T;
  if (Array.isArray(value)) return value.map((item) => roundUsd(item, key)) as T;
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundUsd(v, k)])) as T;
  return value;
}
