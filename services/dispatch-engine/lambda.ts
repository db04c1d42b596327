// The AWS Lambda entry point of dispatch-engine (EventBridge, every 5 minutes).
import { lambdaHandler } from "../common/adapters.ts";
import { dispatchEngineStage } from "./stage.ts";

export const handler = lambdaHandler(dispatchEngineStage());
