import type { StageDefinition } from "./common/runtime/stage.ts";

/**
 * Every stage the local runtime (`npm start` / `opsctl dev`) runs. A new stage is added here and
 * nowhere else; on AWS each has its own Lambda handler or Fargate entry point instead.
 */
export async function loadStages(): Promise<StageDefinition[]> {
  const { sortationStage } = await import("./sortation/stage.ts");
  return [sortationStage];
}
