import { lambdaHandler } from "../common/adapters.ts";
import { inboundDockStage } from "./stage.ts";

/** AWS entry point: EventBridge invokes this every minute. */
export const handler = lambdaHandler(inboundDockStage);
