import { type OpenedContext, openStageContext } from "../common/adapters.ts";
import { handleOperation, type OpsResponse } from "./operations.ts";

/**
 * The ops-api Lambda (inside the VPC, next to the database). opsctl invokes it with IAM
 * (lambda:InvokeFunction on this one function); it runs one operation of the fixed set and
 * returns the response envelope. The pool survives warm invocations.
 */
let opened: Promise<OpenedContext> | undefined;

export async function handler(event: unknown): Promise<OpsResponse> {
  opened ??= openStageContext("ops-api", process.env).catch((error: unknown) => {
    opened = undefined;
    throw error;
  });
  const { context } = await opened;
  const response = await handleOperation(context.db, context.clock, event);
  context.logger.info(
    { op: (event as { op?: unknown } | null)?.op, ok: response.ok },
    "ops-api operation finished",
  );
  return response;
}
