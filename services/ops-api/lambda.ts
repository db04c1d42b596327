import { type OpenedContext, openStageContext } from "../common/adapters.ts";
import { pollBoundsOf } from "../ops/feeds.ts";
import { handleOperation, type OpsResponse } from "./operations.ts";
import type { FixedTasks } from "./tasks.ts";

/**
 * The ops-api Lambda (inside the VPC, next to the database). opsctl invokes it with IAM
 * (lambda:InvokeFunction on this one function); it runs one operation of the fixed set and
 * returns the response envelope. The pool and the ECS client survive warm invocations.
 *
 * Two ways in: Lambda Invoke (the request is the event), and a function URL with AWS_IAM auth
 * (the request is the HTTP body). Only the second tells the function who called: Lambda sets
 * `requestContext.authorizer.iam` from the SigV4 signature it verified. Invoke carries no caller
 * principal at all (its client context is written by the caller), so there the audit identity is
 * the caller's own claim, recorded as `unverified:`.
 */
let opened: Promise<{ opened: OpenedContext; tasks: FixedTasks }> | undefined;

interface FunctionUrlEvent {
  body?: string;
  isBase64Encoded?: boolean;
  requestContext: { http: { method: string }; authorizer?: { iam?: { userArn?: string } } };
}

function isFunctionUrlEvent(event: unknown): event is FunctionUrlEvent {
  const context = (event as { requestContext?: { http?: unknown } } | null)?.requestContext;
  return typeof context === "object" && context !== null && typeof context.http === "object";
}

/** The caller's IAM principal as AWS verified it, or undefined when the way in carries none. */
export function callerIdentity(event: unknown): string | undefined {
  if (!isFunctionUrlEvent(event)) return undefined;
  const arn = event.requestContext.authorizer?.iam?.userArn;
  return typeof arn === "string" && arn.startsWith("arn:") ? arn : undefined;
}

async function open(): Promise<{ opened: OpenedContext; tasks: FixedTasks }> {
  const context = await openStageContext("ops-api", process.env);
  const [{ ECSClient }, { ecsFixedTasks }] = await Promise.all([
    import("@aws-sdk/client-ecs"),
    import("./tasks.ts"),
  ]);
  const { config } = context.context;
  const ecs = config.backup.ecs;
  const tasks = ecsFixedTasks(new ECSClient({ region: config.aws.region }), {
    cluster: ecs.cluster,
    backupTaskDefinition: ecs.taskDefinition,
    migratorTaskDefinition: ecs.migratorTaskDefinition,
    subnets: ecs.subnets,
    securityGroups: ecs.securityGroups,
  });
  return { opened: context, tasks };
}

export async function handler(event: unknown): Promise<OpsResponse | { statusCode: number; body: string }> {
  opened ??= open().catch((error: unknown) => {
    opened = undefined;
    throw error;
  });
  const { opened: ready, tasks } = await opened;
  const { context } = ready;
  const viaUrl = isFunctionUrlEvent(event);
  const request = viaUrl ? parseBody(event) : event;
  const caller = callerIdentity(event);
  const response = await handleOperation(context.db, context.clock, request, {
    tasks,
    pollBounds: pollBoundsOf(context.config),
    ...(caller ? { caller } : {}),
  });
  context.logger.info(
    { op: (request as { op?: unknown } | null)?.op, ok: response.ok, caller: caller ?? "unverified" },
    "ops-api operation finished",
  );
  return viaUrl ? { statusCode: 200, body: JSON.stringify(response) } : response;
}

function parseBody(event: FunctionUrlEvent): unknown {
  const text = event.isBase64Encoded
    ? Buffer.from(event.body ?? "", "base64").toString("utf8")
    : (event.body ?? "");
  try {
    return JSON.parse(text);
  } catch {
    return null; // not an operation: handleOperation answers with OPS_REQUEST_INVALID
  }
}
