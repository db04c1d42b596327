// `npm run cost [stack]`: prints the monthly list-price cost of Pulumi.<stack>.yaml (default dev),
// line by line, with the design choices that move the total. Exit 3 when over budget.
// `opsctl cost` prints the same (both use stack/cost-file.ts).
import { formatCostReport } from "../stack/cost.ts";
import { StackFileMissingError, stackCostFromFile } from "../stack/cost-file.ts";

const stack = process.argv[2] ?? "dev";
try {
  const { report, moves } = stackCostFromFile(stack, process.cwd());
  console.log(formatCostReport(report, moves));
  process.exitCode = report.withinBudget ? 0 : 3;
} catch (error) {
  if (!(error instanceof StackFileMissingError)) throw error;
  console.error(
    `cost: ${error.file} not found\n  next: run from the repository root, or name an existing stack`,
  );
  process.exitCode = 2;
}
