// The AWS Lambda entry point of lane-telemetry (EventBridge, every 5 minutes).
import { lambdaHandler } from "../common/adapters.ts";
import { laneTelemetryStage, secretsForTarget } from "./stage.ts";

export const handler = lambdaHandler(laneTelemetryStage(secretsForTarget(process.env)));
