// The AWS Lambda entry point of dispatch-engine: EventBridge Scheduler's tick every 5 minutes is
// the sweep; sortation's asynchronous invoke `{reason: "classified", tickers}` evaluates those
// tickers at once (docs/dispatch-engine.md, "On AWS").
import { type LambdaHandlerOptions, lambdaHandler } from "../common/adapters.ts";
import { parseEngineInvocation } from "../common/engine-events.ts";
import { dispatchEngineInvokedRun, dispatchEngineStage } from "./stage.ts";

/**
 * The engine's handler: the sweep for a scheduled tick (or any event that is not a classified
 * payload), `dispatchEngineInvokedRun` for a classified payload.
 * Its invocations throw EngineEventError for a payload that names `reason` or `tickers` and is not
 * valid (a sender's bug: the function's errors alarm says so; nothing is evaluated).
 */
export function dispatchEngineHandler(
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: Omit<LambdaHandlerOptions, "route"> = {},
) {
  return lambdaHandler(dispatchEngineStage(), env, {
    ...options,
    route: (event) => {
      const invocation = parseEngineInvocation(event);
      return invocation.kind === "classified" ? dispatchEngineInvokedRun(invocation.event) : undefined;
    },
  });
}

export const handler = dispatchEngineHandler();
