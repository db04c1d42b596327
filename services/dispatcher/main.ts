// Fargate entry point of the dispatcher: runs the loop until SIGTERM.
import { runLoopProcess } from "../common/adapters.ts";
import { dispatcherStage } from "./stage.ts";

await runLoopProcess(dispatcherStage());
