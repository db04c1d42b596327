import type { StageDefinition } from "./common/runtime/stage.ts";

/**
 * Every stage the local runtime (`npm start` / `opsctl dev`) runs. A new stage is added here and
 * nowhere else; on AWS each has its own Lambda handler or Fargate entry point instead. Stages are
 * imported lazily so a command that never runs them never loads them.
 */
export async function loadStages(): Promise<StageDefinition[]> {
  const [inboundDock, sortation, laneTelemetry, dispatchEngine, dispatcher, watchdog, backup] =
    await Promise.all([
      import("./inbound-dock/stage.ts"),
      import("./sortation/stage.ts"),
      import("./lane-telemetry/stage.ts"),
      import("./dispatch-engine/stage.ts"),
      import("./dispatcher/stage.ts"),
      import("./watchdog/stage.ts"),
      // Locally only: on AWS the nightly backup is an ECS task on an EventBridge schedule.
      import("./backup/stage.ts"),
    ]);
  return [
    inboundDock.inboundDockStage,
    sortation.sortationStage,
    laneTelemetry.laneTelemetryStage(),
    dispatchEngine.dispatchEngineStage(),
    dispatchEngine.dispatchEngineEventsStage(),
    dispatcher.dispatcherStage(),
    watchdog.watchdogStage,
    backup.backupStage,
  ];
}
