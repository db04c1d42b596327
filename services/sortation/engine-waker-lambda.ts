import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { Logger } from "../common/logger.ts";
import { coalescingWaker, type EngineWaker } from "./engine-waker.ts";

/** An invoke that gets no answer in this long is abandoned (one in flight: a hung one would stop the rest). */
export const ENGINE_INVOKE_TIMEOUT_MS = 5_000;

export interface LambdaEngineWakerOptions {
  client: Pick<LambdaClient, "send">;
  /** The engine's function (OPS_SORTATION_ENGINE_FUNCTION, set by the stack). */
  functionName: string;
  logger: Logger;
  /** At most one invoke per this many ms (OPS_SORTATION_ENGINE_WAKE_GAP_MS). */
  minGapMs: number;
  timeoutMs?: number;
}

/**
 * The AWS adapter of EngineWaker: Lambda Invoke with InvocationType Event (202 Accepted: Lambda
 * queues the event and runs the function once its one concurrent slot is free), coalesced by
 * coalescingWaker. The SDK's own retries cover a 429 or 5xx of the invoke API; what still fails is
 * logged and left to the sweep.
 */
export function lambdaEngineWaker(options: LambdaEngineWakerOptions): EngineWaker {
  const timeoutMs = options.timeoutMs ?? ENGINE_INVOKE_TIMEOUT_MS;
  return coalescingWaker({
    kind: "lambda",
    logger: options.logger,
    minGapMs: options.minGapMs,
    async invoke(event) {
      const output = await options.client.send(
        new InvokeCommand({
          FunctionName: options.functionName,
          InvocationType: "Event",
          Payload: new TextEncoder().encode(JSON.stringify(event)),
        }),
        { abortSignal: AbortSignal.timeout(timeoutMs) },
      );
      if (output.StatusCode !== 202) {
        throw new Error(`Lambda answered ${output.StatusCode} to an asynchronous invoke, not 202`);
      }
    },
  });
}
