import type { StageDefinition } from "./common/runtime/stage.ts";

/**
 * Every stage the local runtime (`npm start` / `opsctl dev`) runs. A new stage is added here and
 * nowhere else; on AWS each has its own Lambda handler or Fargate entry point instead.
 */
export async function loadStages(): Promise<StageDefinition[]> {
  const [laneTelemetry, dispatchEngine] = await Promise.all([
    import("./lane-telemetry/stage.ts"),
    import("./dispatch-engine/stage.ts"),
  ]);
  return [
    // The local runtime is an adapter: its secrets (Alpaca keys) come from the environment.
    laneTelemetry.laneTelemetryStage(laneTelemetry.secretsForTarget(process.env)),
    dispatchEngine.dispatchEngineStage(),
  ];
}
