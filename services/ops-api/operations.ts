import * as z from "zod";
import type { Clock } from "../common/clock.ts";
import { loadConfig } from "../common/config.ts";
import type { DatabasePool } from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";
import { exitParams } from "../common/exits.ts";
import { recordParamAudit } from "../common/params/postgres.ts";
import { decideRecommendation } from "../ops/approvals.ts";
import { listBackupLines } from "../ops/backup.ts";
import { requestClose } from "../ops/exits.ts";
import {
  addFeed,
  changeFeed,
  FEED_CHANGES,
  listFeeds,
  type PollBounds,
  pollBoundsOf,
  setFeedInterval,
} from "../ops/feeds.ts";
import { latencyReport } from "../ops/latency.ts";
import { listOrders } from "../ops/orders.ts";
import { listAuditLines } from "../ops/params.ts";
import { POSITION_ACCOUNTS, readPositions } from "../ops/positions.ts";
import { acceptDifferences, readReconcileReport } from "../ops/reconcile.ts";
import { explainRecommendation, listRecommendations, RECOMMENDATION_STATUSES } from "../ops/recs.ts";
import { replayRecommendations } from "../ops/replay.ts";
import { readStatusSnapshot } from "../ops/status.ts";
import { acknowledgeTrips, readTradingFacts } from "../ops/trading.ts";

import type { FixedTasks } from "./tasks.ts";

const isoTime = z.iso.datetime({ offset: true });

/**
 * The ops-api: the fixed set of operations opsctl may run against a private database on AWS,
 * through a Lambda inside the VPC invoked with IAM. Every request is validated here; there is no
 * operation that takes SQL, a table name or a column name, so the function's reach is exactly this
 * list. The same functions (services/ops/) serve the local target directly.
 */
export const opsRequestSchema = z.discriminatedUnion("op", [
  z.object({ op: z.literal("status.snapshot") }),
  z.object({
    op: z.literal("recs.list"),
    status: z.enum(RECOMMENDATION_STATUSES).optional(),
    afterId: z.number().int().min(0).optional(),
    ticker: z
      .string()
      .regex(/^[A-Z][A-Z0-9.-]{0,14}$/)
      .optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.number().int().min(1).max(10_000),
  }),
  z.object({ op: z.literal("recs.show"), id: z.number().int().positive() }),
  z.object({ op: z.literal("latency.report"), since: z.iso.datetime() }),
  z.object({ op: z.literal("params.audit.list"), limit: z.number().int().min(1).max(1_000) }),
  z.object({
    op: z.literal("params.audit.record"),
    entry: z.object({
      key: z.string().regex(/^[a-z][a-z0-9-]*$/),
      oldValue: z.json(),
      newValue: z.json(),
      changedBy: z.string().min(1).max(200),
      reason: z.string().max(500).nullable(),
    }),
  }),
  z.object({ op: z.literal("feeds.list") }),
  z.object({
    op: z.literal("feeds.add"),
    feed: z.object({
      url: z.string().min(1).max(2_000),
      name: z.string().min(1).max(200),
      tags: z.array(z.string().max(100)).max(50),
      terms: z.string().max(2_000).nullable(),
      // Optional, so an older opsctl's request stays valid; checked against this stack's bounds.
      pollIntervalMs: z.number().int().positive().nullable().optional(),
    }),
  }),
  z.object({ op: z.literal("feeds.change"), change: z.enum(FEED_CHANGES), id: z.number().int().positive() }),
  // A feed's own poll interval (ms), or null to clear it; the bounds are this stack's (its inbound
  // config is the ingest function's), so opsctl's own environment cannot widen them.
  z.strictObject({
    op: z.literal("feeds.interval"),
    id: z.number().int().positive(),
    intervalMs: z.number().int().positive().nullable(),
  }),
  // The rule's parameters come from the caller, read from SSM: the function reads no parameter.
  z.object({
    op: z.literal("replay"),
    from: isoTime,
    to: isoTime,
    params: z.object({
      threshold: z.number().gt(0).max(1),
      minEvents: z.number().int().min(1),
      lookbackMinutes: z.number().positive(),
      cooldownMinutes: z.number().min(0),
      maxCandleAgeSeconds: z.number().positive(),
      // The exits in effect (issue 15): replay applies them to the replayed trades.
      exits: exitParams.optional(),
    }),
  }),
  z.object({ op: z.literal("backups.list"), limit: z.number().int().min(1).max(1_000) }),
  // Issue 15: positions and orders (reads); an operator's approval or rejection of a
  // recommendation (an audited write: the decision records the caller as AWS verified it).
  z.object({ op: z.literal("positions.list"), account: z.enum(POSITION_ACCOUNTS).optional() }),
  z.object({
    op: z.literal("orders.list"),
    open: z.boolean().optional(),
    limit: z.number().int().min(1).max(10_000),
  }),
  z.strictObject({
    op: z.enum(["recs.approve", "recs.reject"]),
    id: z.number().int().positive(),
    by: z.string().min(1).max(200),
    reason: z.string().max(500).nullable(),
  }),
  // Trading state (issue 15): the database's side; the trading-state parameter is SSM's, which
  // the caller reads and sets itself. Acknowledging records the caller AWS established.
  z.strictObject({ op: z.literal("trading.facts") }),
  z.strictObject({
    op: z.literal("trading.acknowledge"),
    by: z.string().min(1).max(200),
    reason: z.string().max(500).nullable(),
  }),
  // Operator exits (`opsctl close`): the account is the caller's, judged from SSM's dry-run and
  // dry-run-until at the stack's now (the function reads no parameter), and must be one the
  // dispatcher trades. An audited write: the exit records the caller AWS established.
  z.strictObject({
    op: z.literal("exits.close"),
    tickers: z.union([
      z.literal("all"),
      z
        .array(z.string().regex(/^[A-Z][A-Z0-9.-]{0,15}$/))
        .min(1)
        .max(100),
    ]),
    account: z.enum(["dry-run", "alpaca-paper"]),
    by: z.string().min(1).max(200),
    reason: z.string().max(500).nullable(),
  }),
  // Reconciliation (`opsctl reconcile [--accept]`): accepting adopts the broker's side and
  // records the caller AWS established on each row (dispatch_reconcile_diffs has no reason column).
  z.strictObject({ op: z.literal("reconcile.report") }),
  z.strictObject({ op: z.literal("reconcile.accept"), by: z.string().min(1).max(200) }),
  // The two tasks it may start, with their own fixed commands: strict, so a request carrying a
  // command, an override or anything else is refused rather than silently stripped.
  z.strictObject({ op: z.literal("backup.start") }),
  z.strictObject({ op: z.literal("migrate.start") }),
  z.strictObject({ op: z.literal("task.describe"), taskArn: z.string().min(1).max(200) }),
]);
export type OpsRequest = z.infer<typeof opsRequestSchema>;

/** The envelope every invocation returns, so a caller tells an operator error from a crash. */
export type OpsResponse =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: string; message: string; hint: string | null } };

export class OpsRequestError extends OperatorError {
  override readonly name = "OpsRequestError";
}

/** What the ops-api knows besides the database: its ECS tasks, and who is calling. */
export interface OpsContext {
  /** Absent where no ECS is configured (local): the task operations then fail as operator errors. */
  tasks?: FixedTasks;
  /**
   * Who called, as AWS established it (services/ops-api/lambda.ts callerIdentity), never as the
   * request says; absent, the request's own claim is recorded marked `unverified:`.
   */
  caller?: string;
  /** The poll bounds of this stack's ingest (its inbound config); absent, the configuration's defaults. */
  pollBounds?: PollBounds;
}

/**
 * Runs one operation. JSON in, JSON out (Dates as ISO strings, timestamps as epoch ms).
 * @throws OpsRequestError when the request is not one of the operations; slonik errors from the database.
 */
export async function runOperation(
  db: DatabasePool,
  clock: Clock,
  raw: unknown,
  context: OpsContext = {},
): Promise<unknown> {
  const parsed = opsRequestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new OpsRequestError(
      "OPS_REQUEST_INVALID",
      `not an ops-api operation: ${parsed.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`).join("; ")}`,
      { hint: "upgrade opsctl to the version of the deployed stack" },
    );
  }
  const request = parsed.data;
  switch (request.op) {
    case "status.snapshot":
      return readStatusSnapshot(db, clock.now());
    case "recs.list":
      return listRecommendations(db, {
        status: request.status,
        afterId: request.afterId,
        ticker: request.ticker,
        since: request.since === undefined ? undefined : new Date(request.since),
        limit: request.limit,
      });
    case "recs.show":
      return explainRecommendation(db, request.id);
    case "latency.report":
      return latencyReport(db, new Date(request.since));
    case "params.audit.list":
      return listAuditLines(db, request.limit);
    case "params.audit.record":
      await recordParamAudit(db, {
        ...request.entry,
        changedBy: context.caller ?? `unverified:${request.entry.changedBy}`,
        store: "ssm",
      });
      return { recorded: true };
    case "feeds.list":
      return listFeeds(db);
    case "feeds.add":
      return addFeed(db, request.feed, boundsOf(context));
    case "feeds.change":
      return changeFeed(db, request.change, request.id, clock.now());
    case "feeds.interval":
      return setFeedInterval(db, request.id, request.intervalMs, boundsOf(context), clock.now());
    case "replay":
      return replayRecommendations(db, {
        from: new Date(request.from),
        to: new Date(request.to),
        params: request.params,
      });
    case "backups.list":
      return listBackupLines(db, request.limit);
    case "positions.list":
      return readPositions(db, { now: clock.now(), account: request.account });
    case "orders.list":
      return listOrders(db, { open: request.open, limit: request.limit });
    case "recs.approve":
    case "recs.reject":
      return decideRecommendation(db, {
        id: request.id,
        decision: request.op === "recs.approve" ? "approved" : "rejected",
        by: context.caller ?? `unverified:${request.by}`,
        reason: request.reason,
        now: clock.now(),
      });
    case "trading.facts":
      return readTradingFacts(db);
    case "trading.acknowledge":
      return acknowledgeTrips(db, {
        who: context.caller ?? `unverified:${request.by}`,
        reason: request.reason,
        now: clock.now(),
      });
    case "exits.close":
      return requestClose(db, {
        tickers: request.tickers,
        account: request.account,
        who: context.caller ?? `unverified:${request.by}`,
        reason: request.reason,
        now: clock.now(),
      });
    case "reconcile.report":
      return readReconcileReport(db);
    case "reconcile.accept":
      return acceptDifferences(db, { who: context.caller ?? `unverified:${request.by}`, now: clock.now() });
    case "backup.start":
    case "migrate.start": {
      const tasks = requireTasks(context);
      const startedBy = `ops-api/${context.caller ?? "unverified"}`;
      return { taskArn: await tasks.start(request.op === "backup.start" ? "backup" : "migrator", startedBy) };
    }
    case "task.describe":
      return requireTasks(context).describe(request.taskArn);
  }
}

function boundsOf(context: OpsContext): PollBounds {
  return context.pollBounds ?? pollBoundsOf(loadConfig({}));
}

function requireTasks(context: OpsContext): FixedTasks {
  if (!context.tasks) {
    throw new OpsRequestError("OPS_TASKS_UNAVAILABLE", "this ops-api has no ECS tasks configured", {
      hint: "the task operations exist on an AWS stack; locally run `opsctl backup now` / `opsctl migrate`",
    });
  }
  return context.tasks;
}

/** Wraps runOperation into the response envelope: operator errors travel as data, bugs as a thrown error. */
export async function handleOperation(
  db: DatabasePool,
  clock: Clock,
  raw: unknown,
  context: OpsContext = {},
): Promise<OpsResponse> {
  try {
    return { ok: true, result: await runOperation(db, clock, raw, context) };
  } catch (error) {
    if (error instanceof OperatorError) {
      return { ok: false, error: { code: error.code, message: error.message, hint: error.hint ?? null } };
    }
    throw error;
  }
}
