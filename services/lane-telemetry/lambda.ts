// The AWS Lambda entry point of lane-telemetry (EventBridge, every 5 minutes).
import { lambdaHandler } from "../common/adapters.ts";
import { laneTelemetryStage } from "./stage.ts";

export const handler = lambdaHandler(laneTelemetryStage());
