import { readFileSync } from "node:fs";
import path from "node:path";
import { parseStackConfig, parseStackYaml, stackYamlSource } from "./config.ts";
import { type CostMove, type CostReport, costMoves, priceStack } from "./cost.ts";
import { stackPlan } from "./plan.ts";

/**
 * Prices the stack a Pulumi.<stack>.yaml file declares: what `npm run cost` and `opsctl cost`
 * both print. Pure apart from reading that one file; no Pulumi, no AWS.
 */

/** Pulumi.<stack>.yaml is not there. */
export class StackFileMissingError extends Error {
  override readonly name = "StackFileMissingError";
  constructor(readonly file: string) {
    super(`${file} not found`);
  }
}

export interface StackCost {
  readonly file: string;
  readonly report: CostReport;
  readonly moves: readonly CostMove[];
}

/**
 * @param dir the folder holding the Pulumi.<stack>.yaml files (the repository root).
 * @throws StackFileMissingError when the file does not exist; StackConfigError (stack/config.ts)
 *   naming the bad key; Error when the plan names a type the price table lacks.
 */
export function stackCostFromFile(stack: string, dir: string): StackCost {
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new StackFileMissingError(file);
    throw error;
  }
  const config = parseStackConfig(stack, stackYamlSource(parseStackYaml(text)));
  return { file, report: priceStack(stackPlan(config)), moves: costMoves(config) };
}
