import os from "node:os";
import type { Clock } from "../../services/common/clock.ts";
import { OperatorError } from "../../services/common/errors.ts";
import type { ParameterStore } from "../../services/common/params/store.ts";
import type { ApprovalRequest, ApprovalResult } from "../../services/ops/approvals.ts";
import type { BackupLine } from "../../services/ops/backup.ts";
import type { CloseReport } from "../../services/ops/exits.ts";
import type { FeedChange, FeedIntervalChange, FeedRow, NewFeed } from "../../services/ops/feeds.ts";
import type { LatencyReport } from "../../services/ops/latency.ts";
import type { ListOrdersQuery, OrderList } from "../../services/ops/orders.ts";
import type { AuditLine } from "../../services/ops/params.ts";
import type { PositionAccount, PositionsReport } from "../../services/ops/positions.ts";
import type { ReconcileDifference, ReconcileReport } from "../../services/ops/reconcile.ts";
import type {
  ListRecommendationsQuery,
  RecommendationExplanation,
  RecommendationList,
} from "../../services/ops/recs.ts";
import type { ReplayReport } from "../../services/ops/replay.ts";
import type { StatusSnapshot } from "../../services/ops/status.ts";
import type { TradingReport, TradingTrip } from "../../services/ops/trading.ts";
import type { CliContext } from "./context.ts";

export type {
  ApprovalResult,
  AuditLine,
  BackupLine,
  CloseReport,
  FeedChange,
  FeedIntervalChange,
  FeedRow,
  NewFeed,
  OrderList,
  PositionsReport,
  ReconcileDifference,
  ReconcileReport,
  ReplayReport,
  TradingReport,
  TradingTrip,
};

/** What `opsctl replay` asks for; the rule's other parameters are the target's stored ones. */
export interface ReplayQuery {
  from: Date;
  to: Date;
  /** Instead of the stored sentiment-threshold. */
  threshold?: number | undefined;
}

/** What `opsctl close` asks for. */
export interface CloseQuery {
  tickers: readonly string[] | "all";
  reason: string | null;
  who: string;
}

/**
 * What commands need from a stack, whichever it is: locally the operator core (services/ops/) on
 * the database directly; on AWS the same operations through the ops-api Lambda (the database is
 * private) and SSM for parameters. Commands never see which, and never open a database themselves.
 */
export interface OpsBackend {
  readonly target: "local" | "aws";
  readonly clock: Clock;
  statusSnapshot(): Promise<StatusSnapshot>;
  listRecommendations(query: ListRecommendationsQuery): Promise<RecommendationList>;
  explainRecommendation(id: number): Promise<RecommendationExplanation | null>;
  params(): ParameterStore;
  paramAudit(limit: number): Promise<AuditLine[]>;
  listFeeds(): Promise<readonly FeedRow[]>;
  /** @throws OperatorError FEED_INVALID, FEED_EXISTS, FEED_INTERVAL_INVALID (outside the target's poll bounds). */
  addFeed(feed: NewFeed): Promise<FeedRow>;
  /** @throws OperatorError FEED_NOT_FOUND. */
  changeFeed(change: FeedChange, id: number): Promise<FeedRow>;
  /**
   * Sets (ms) or clears (null) a feed's own poll interval, checked against the target's poll
   * bounds (its ingest's config), and says what its next fetch will use.
   * @throws OperatorError FEED_NOT_FOUND, FEED_INTERVAL_INVALID.
   */
  setFeedInterval(id: number, intervalMs: number | null): Promise<FeedIntervalChange>;
  /** The rule over stored history with the target's stored parameters. @throws OperatorError REPLAY_RANGE. */
  replay(query: ReplayQuery): Promise<ReplayReport>;
  listBackups(limit: number): Promise<BackupLine[]>;
  /** p50 / p95 / max per hop over recommendations made since `since` (services/ops/latency.ts). */
  latency(since: Date): Promise<LatencyReport>;
  /** Broker vs database differences still open, and the trading state they impose. */
  reconcileReport(): Promise<ReconcileReport>;
  /** Adopts the broker's side of every open difference, recorded as accepted by `who`. */
  acceptReconcile(who: string): Promise<ReconcileDifference[]>;
  /** Open positions (one account, or all) marked at the stack's now (services/ops/positions.ts). */
  positions(account?: PositionAccount): Promise<PositionsReport>;
  /** Orders newest first, or only those not yet terminal (services/ops/orders.ts). */
  orders(query: ListOrdersQuery): Promise<OrderList>;
  /**
   * An operator's approval or rejection of a PENDING recommendation, recorded with `by` (on AWS
   * the ops-api records the caller's verified IAM principal instead).
   * @throws OperatorError REC_NOT_FOUND, REC_ALREADY_DECIDED.
   */
  decideRecommendation(request: Omit<ApprovalRequest, "now">): Promise<ApprovalResult>;
  /** The trading state in effect and why: the parameter, open trips and differences, the kill switch. */
  tradingReport(): Promise<TradingReport>;
  /** Acknowledges every open loss-limit trip as `who` (audited). Returns what was acknowledged. */
  acknowledgeTrips(who: string, reason: string | null): Promise<TradingTrip[]>;
  /**
   * Queues operator exit orders (`opsctl close`) in the account the dispatcher trades now.
   * @throws OperatorError NOT_HELD, NOTHING_HELD.
   */
  closePositions(query: CloseQuery): Promise<CloseReport>;
  close(): Promise<void>;
}

/**
 * For the few commands with no AWS counterpart (they act on this machine): refuses
 * `--target aws` with what to do instead, rather than silently acting on the local stack.
 * @throws OperatorError LOCAL_TARGET_ONLY (exit 2) when the target is aws.
 */
export function refuseAwsTarget(context: Pick<CliContext, "config">, command: string, hint: string): void {
  if (context.config.target !== "aws") return;
  throw new OperatorError(
    "LOCAL_TARGET_ONLY",
    `opsctl ${command} acts on this machine only, not on an AWS stack`,
    {
      hint,
    },
  );
}

/** Who changes a parameter: the OS user at the host, as the audit trail records it. */
export function operatorIdentity(): string {
  let user = process.env.USER ?? "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers): keep $USER
  }
  return `${user}@${os.hostname()}`;
}

/**
 * Opens the backend of the configured target. Imports only what that target needs: the local
 * target never loads the AWS SDK, the AWS target never loads the database driver.
 * @throws OperatorError (DatabaseUnavailableError, ConfigError...) when the target is unreachable.
 */
export async function openBackend(
  context: CliContext,
  options: { access?: "read" | "write" } = {},
): Promise<OpsBackend> {
  const { systemClock } = await import("../../services/common/clock.ts");
  if (context.config.target === "aws") {
    const { openAwsBackend } = await import("./aws-backend.ts");
    return openAwsBackend(context, systemClock);
  }
  return openLocalBackend(context, systemClock, options.access ?? "read");
}

async function openLocalBackend(
  context: CliContext,
  clock: Clock,
  access: "read" | "write",
): Promise<OpsBackend> {
  const [{ openLocalDatabase, explainMissingTables }, { connectDatabase, poolSettings }] = await Promise.all([
    import("./local-database.ts"),
    import("../../services/common/db.ts"),
  ]);
  const { config, logger } = context;
  const database = await openLocalDatabase(config, logger, { access });
  // One connection: a command's few queries run faster in sequence on one session than in
  // parallel on several, each of which costs a server fork and a login. The query modules load
  // while the server forks and logs in (twice: slonik reads type OIDs on a connection of its own).
  const connecting = connectDatabase({ url: database.url, ...poolSettings(config, 1) }, logger);
  const [pool, [status, recs, params, audit]] = await Promise.all([
    connecting,
    Promise.all([
      import("../../services/ops/status.ts"),
      import("../../services/ops/recs.ts"),
      import("../../services/common/params/postgres.ts"),
      import("../../services/ops/params.ts"),
    ]),
  ]).catch(async (error: unknown) => {
    // Whichever failed, a pool that did open is closed before the database is let go.
    await connecting.then((opened) => opened.end()).catch(() => undefined);
    await database.release();
    throw error;
  });
  // The clock the stack stamps its rows with: a running demo's compressed clock, else the wall's.
  const { readStackClock } = await import("./stack-clock.ts");
  const stackClock = await readStackClock(pool, clock).catch(async (error: unknown) => {
    await pool.end().catch(() => undefined);
    await database.release();
    throw error;
  });
  const rawStore = params.postgresParameterStore(pool);
  const store: ParameterStore = {
    kind: rawStore.kind,
    getAll: () => explainMissingTables(() => rawStore.getAll()),
    set: (key, value, who) => explainMissingTables(() => rawStore.set(key, value, who)),
  };
  return {
    target: "local",
    clock: stackClock,
    statusSnapshot: () => explainMissingTables(() => status.readStatusSnapshot(pool, stackClock.now())),
    listRecommendations: (query) => explainMissingTables(() => recs.listRecommendations(pool, query)),
    explainRecommendation: (id) => explainMissingTables(() => recs.explainRecommendation(pool, id)),
    params: () => store,
    paramAudit: (limit) => explainMissingTables(() => audit.listAuditLines(pool, limit)),
    // Feeds, replay and backups load their stage's code only when a command asks for them.
    listFeeds: () =>
      explainMissingTables(async () => (await import("../../services/ops/feeds.ts")).listFeeds(pool)),
    addFeed: (feed) =>
      explainMissingTables(async () => {
        const ops = await import("../../services/ops/feeds.ts");
        return ops.addFeed(pool, feed, ops.pollBoundsOf(config));
      }),
    setFeedInterval: (id, intervalMs) =>
      explainMissingTables(async () => {
        const ops = await import("../../services/ops/feeds.ts");
        return ops.setFeedInterval(pool, id, intervalMs, ops.pollBoundsOf(config), stackClock.now());
      }),
    changeFeed: (change, id) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/feeds.ts")).changeFeed(pool, change, id, clock.now()),
      ),
    replay: (query) =>
      explainMissingTables(async () => {
        const ops = await import("../../services/ops/replay.ts");
        const ruleParams = ops.replayParams(await rawStore.getAll(), query.threshold);
        const { orderNotionalUsd, slippageBps, feeBps, feePerOrderUsd } = config.dispatcher;
        return ops.replayRecommendations(pool, {
          from: query.from,
          to: query.to,
          params: ruleParams,
          // The dry-run simulator's own size, slippage and fees: replayed P&L is what dry-run would make.
          costs: { orderNotionalUsd, slippageBps, feeBps, feePerOrderUsd },
        });
      }),
    latency: (since) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/latency.ts")).latencyReport(pool, since),
      ),
    listBackups: (limit) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/backup.ts")).listBackupLines(pool, limit),
      ),
    reconcileReport: () =>
      explainMissingTables(async () =>
        (await import("../../services/ops/reconcile.ts")).readReconcileReport(pool),
      ),
    acceptReconcile: (who) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/reconcile.ts")).acceptDifferences(pool, {
          who,
          now: stackClock.now(),
        }),
      ),
    positions: (account) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/positions.ts")).readPositions(pool, {
          now: stackClock.now(),
          account,
        }),
      ),
    orders: (query) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/orders.ts")).listOrders(pool, query),
      ),
    decideRecommendation: (request) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/approvals.ts")).decideRecommendation(pool, {
          ...request,
          now: stackClock.now(),
        }),
      ),
    tradingReport: () =>
      explainMissingTables(async () => {
        const ops = await import("../../services/ops/trading.ts");
        const [facts, params] = await Promise.all([ops.readTradingFacts(pool), rawStore.getAll()]);
        return ops.tradingReport(facts, params);
      }),
    acknowledgeTrips: (who, reason) =>
      explainMissingTables(async () =>
        (await import("../../services/ops/trading.ts")).acknowledgeTrips(pool, {
          who,
          reason,
          now: stackClock.now(),
        }),
      ),
    closePositions: (query) =>
      explainMissingTables(async () => {
        const ops = await import("../../services/ops/exits.ts");
        const { dryRunInEffect } = await import("../../services/common/dry-run-window.ts");
        // The account the dispatcher trades now: dry-run also once a broker window has ended.
        const dryRun = dryRunInEffect(await rawStore.getAll(), stackClock.now());
        return ops.requestClose(pool, {
          ...query,
          account: dryRun ? "dry-run" : "alpaca-paper",
          now: stackClock.now(),
        });
      }),
    async close() {
      await pool.end();
      await database.release();
    },
  };
}
