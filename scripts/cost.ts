// `npm run cost [stack]`: prints the monthly list-price cost of Pulumi.<stack>.yaml (default dev),
// line by line, with the design choices that move the total. Exit 3 when over budget.
import { readFileSync } from "node:fs";
import { parseStackConfig, parseStackYaml, stackYamlSource } from "../stack/config.ts";
import { costMoves, formatCostReport, priceStack } from "../stack/cost.ts";
import { stackPlan } from "../stack/plan.ts";

const stack = process.argv[2] ?? "dev";
const file = `Pulumi.${stack}.yaml`;
let text: string;
try {
  text = readFileSync(file, "utf8");
} catch {
  console.error(`cost: ${file} not found\n  next: run from the repository root, or name an existing stack`);
  process.exit(2);
}
const config = parseStackConfig(stack, stackYamlSource(parseStackYaml(text)));
const report = priceStack(stackPlan(config));
console.log(formatCostReport(report, costMoves(config)));
process.exitCode = report.withinBudget ? 0 : 3;
