import { lambdaHandler } from "../common/adapters.ts";
import { watchdogStage } from "./stage.ts";

/** The watchdog's Lambda entry point (EventBridge, every 5 minutes). */
export const handler = lambdaHandler(watchdogStage);
