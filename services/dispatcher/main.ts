// Fargate entry point of the dispatcher: runs the loop until SIGTERM.
import { runLoopProcess } from "../common/adapters.ts";
import { secretsForTarget } from "./secrets-adapter.ts";
import { dispatcherStage } from "./stage.ts";

await runLoopProcess(dispatcherStage(secretsForTarget(process.env)));
