import assert from "node:assert/strict";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { OpsApiError, opsApiClient } from "../../cli/src/aws-backend.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import type { ApprovalResult } from "../../services/ops/approvals.ts";
import type { CloseReport } from "../../services/ops/exits.ts";
import type { FeedIntervalChange, FeedRow } from "../../services/ops/feeds.ts";
import type { OrderList } from "../../services/ops/orders.ts";
import type { PositionsReport } from "../../services/ops/positions.ts";
import type { ReconcileDifference, ReconcileReport } from "../../services/ops/reconcile.ts";
import type { RecommendationExplanation, RecommendationList } from "../../services/ops/recs.ts";
import type { ReplayReport } from "../../services/ops/replay.ts";
import type { StatusSnapshot } from "../../services/ops/status.ts";
import { handleOperation, OpsRequestError, runOperation } from "../../services/ops-api/operations.ts";
import { insertRecommendations as insertRecommendationRows, recommendation } from "../helpers/builders.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { FAKE_AWS_ENV, type FakeAws, startFakeAws } from "./helpers/fake-aws.ts";
import { seedTradingDay } from "./helpers/seed.ts";

describe("ops-api: the fixed operation set behind the Lambda", () => {
  // The ops-api's operations run as its own role, as on AWS; fixtures are seeded as the owner.
  const db = useTestDatabase({ role: STAGE_ROLES["ops-api"] });
  const clock = new FakeClock(new Date());
  let aws: FakeAws;
  let lambda: LambdaClient;
  let seeded: { recommendationId: number; eventIds: number[] };
  before(async () => {
    seeded = await seedTradingDay(db.pool, clock.now());
    aws = await startFakeAws(async (name, payload) =>
      name === "broken"
        ? { payload: { errorMessage: "boom" }, functionError: "Unhandled" }
        : { payload: await handleOperation(db.stagePool, clock, payload) },
    );
    lambda = new LambdaClient({
      endpoint: aws.url,
      region: FAKE_AWS_ENV.AWS_REGION,
      credentials: {
        accessKeyId: FAKE_AWS_ENV.AWS_ACCESS_KEY_ID,
        secretAccessKey: FAKE_AWS_ENV.AWS_SECRET_ACCESS_KEY,
      },
    });
  });
  after(async () => {
    lambda.destroy();
    await aws.close();
  });

  it("refuses anything that is not one of its operations, SQL included", async () => {
    for (const request of [
      { op: "sql", query: "DROP TABLE feeds" },
      { op: "recs.show", id: "1; DROP" },
      null,
      "status",
    ]) {
      await assert.rejects(runOperation(db.stagePool, clock, request), OpsRequestError);
    }
  });

  it("answers status, recs list and recs show through Lambda Invoke over HTTP", async () => {
    const api = opsApiClient(lambda, "ops-api");
    const snapshot = await api.invoke<StatusSnapshot>({ op: "status.snapshot" });
    assert.equal(snapshot.backlog.pending, 1);
    assert.deepEqual(snapshot.classifier, { classifier: "finbert", modelId: "ProsusAI/finbert" });
    const list = await api.invoke<RecommendationList>({ op: "recs.list", status: "PENDING", limit: 10 });
    assert.equal(list.total, 1);
    assert.equal(list.recommendations[0]?.id, seeded.recommendationId);
    const explanation = await api.invoke<RecommendationExplanation>({
      op: "recs.show",
      id: seeded.recommendationId,
    });
    assert.deepEqual(
      explanation.headlines.map((headline) => headline.eventId),
      seeded.eventIds,
    );
    assert.match(explanation.headlines[0]?.title ?? "", /beats quarterly estimates/);
    assert.equal(explanation.chart.length, 40);
    assert.equal(explanation.chart[18]?.sma20, null);
    assert.ok(typeof explanation.chart[19]?.sma20 === "number");
    assert.equal(await api.invoke({ op: "recs.show", id: 999_999 }), null);
  });

  it("lists, adds and pauses feeds through Lambda Invoke, with the stage's own validation", async () => {
    const api = opsApiClient(lambda, "ops-api");
    const before = await api.invoke<FeedRow[]>({ op: "feeds.list" });
    const added = await api.invoke<FeedRow>({
      op: "feeds.add",
      feed: { url: "https://example.com/ops-api.rss", name: "ops-api test", tags: ["test"], terms: null },
    });
    assert.equal(added.enabled, true);
    const paused = await api.invoke<FeedRow>({ op: "feeds.change", change: "pause", id: added.id });
    assert.equal(paused.enabled, false);
    const after = await api.invoke<FeedRow[]>({ op: "feeds.list" });
    assert.equal(after.length, before.length + 1);
    await assert.rejects(
      api.invoke({ op: "feeds.add", feed: { url: "ftp://x", name: "bad", tags: [], terms: null } }),
      (error: unknown) => error instanceof OpsApiError && error.code === "FEED_INVALID",
    );
    await assert.rejects(
      api.invoke({ op: "feeds.change", change: "resume", id: 999_999 }),
      (error: unknown) => error instanceof OpsApiError && error.code === "FEED_NOT_FOUND",
    );
  });

  it("sets and clears a feed's poll interval as the ops-api role, within the stack's own bounds", async () => {
    const api = opsApiClient(lambda, "ops-api");
    const added = await api.invoke<FeedRow>({
      op: "feeds.add",
      feed: {
        url: "https://example.com/ops-api-interval.rss",
        name: "interval",
        tags: [],
        terms: null,
        pollIntervalMs: 120_000,
      },
    });
    assert.equal(added.operator_interval_ms, 120_000);
    const set = await api.invoke<FeedIntervalChange>({
      op: "feeds.interval",
      id: added.id,
      intervalMs: 30_000,
    });
    assert.deepEqual(set.effective, { intervalMs: 30_000, source: "operator" });
    assert.equal(set.feed.operator_interval_ms, 30_000);
    const cleared = await api.invoke<FeedIntervalChange>({
      op: "feeds.interval",
      id: added.id,
      intervalMs: null,
    });
    assert.equal(cleared.feed.operator_interval_ms, null);
    assert.equal(cleared.effective.source, "default");
    await assert.rejects(
      api.invoke({ op: "feeds.interval", id: added.id, intervalMs: 1_000 }),
      (error: unknown) =>
        error instanceof OpsApiError &&
        error.code === "FEED_INTERVAL_INVALID" &&
        /10s to 1h/.test(error.message),
    );
    await assert.rejects(
      api.invoke({ op: "feeds.interval", id: 999_999, intervalMs: 30_000 }),
      (error: unknown) => error instanceof OpsApiError && error.code === "FEED_NOT_FOUND",
    );
    // The bounds are the stack's (the ingest function's config), not the caller's.
    const stackBounds = { pollBounds: { defaultMs: 120_000, floorMs: 60_000, ceilingMs: 600_000 } };
    const refused = await handleOperation(
      db.stagePool,
      clock,
      { op: "feeds.interval", id: added.id, intervalMs: 30_000 },
      stackBounds,
    );
    assert.equal(refused.ok ? null : refused.error.code, "FEED_INTERVAL_INVALID");
    assert.match(refused.ok ? "" : refused.error.message, /from 1m to 10m/);
    const usesDefault = await handleOperation(
      db.stagePool,
      clock,
      { op: "feeds.interval", id: added.id, intervalMs: null },
      stackBounds,
    );
    assert.deepEqual(usesDefault.ok ? (usesDefault.result as FeedIntervalChange).effective : null, {
      intervalMs: 120_000,
      source: "default",
    });
    // Strict: a request carrying anything else is refused, not stripped.
    await assert.rejects(
      runOperation(db.stagePool, clock, {
        op: "feeds.interval",
        id: added.id,
        intervalMs: 30_000,
        floorMs: 1,
      }),
      OpsRequestError,
    );
  });

  it("replays with the parameters it is sent, never reading any itself", async () => {
    const api = opsApiClient(lambda, "ops-api");
    const params = {
      threshold: 1,
      minEvents: 1,
      lookbackMinutes: 60,
      cooldownMinutes: 60,
      maxCandleAgeSeconds: 600,
    };
    const report = await api.invoke<ReplayReport>({
      op: "replay",
      from: "2026-11-25T14:00:00Z",
      to: "2026-11-25T15:00:00Z",
      params,
    });
    assert.deepEqual(report.params, params);
    assert.equal(report.ticks, 13);
    await assert.rejects(
      api.invoke({ op: "replay", from: "yesterday", to: "2026-11-25T15:00:00Z", params }),
      (error: unknown) => error instanceof OpsApiError && error.code === "OPS_REQUEST_INVALID",
    );
  });

  it("turns a crashed function into an operator error that points at its logs", async () => {
    await assert.rejects(
      opsApiClient(lambda, "broken").invoke({ op: "status.snapshot" }),
      (error: unknown) => {
        assert.ok(error instanceof OpsApiError);
        assert.equal(error.code, "OPS_API_FAILED");
        assert.match(error.hint ?? "", /opsctl logs ops-api/);
        return true;
      },
    );
  });

  it("reads positions and orders, and records approvals and rejections with the verified caller, as its own role", async () => {
    const api = opsApiClient(lambda, "ops-api");
    const at = clock.now();
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
      VALUES ('dry-run', 100000, 99000, ${sql.timestamp(at)}, ${sql.timestamp(at)})`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('dry-run', 'ACME', 10, 100, ${sql.timestamp(at)}, ${sql.timestamp(at)})`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_orders (broker_order_id, account, client_order_id, ticker, side, quantity, status,
        terminal, filled_qty, filled_notional, created_at, updated_at)
      VALUES ('dry-run:x', 'dry-run', 'x', 'ACME', 'BUY', 10, 'filled', true, 10, 1000,
              ${sql.timestamp(at)}, ${sql.timestamp(at)})`);
    const positions = await api.invoke<PositionsReport>({ op: "positions.list", account: "dry-run" });
    assert.deepEqual(
      positions.positions.map((p) => [p.ticker, p.quantity, p.avgPrice, typeof p.lastPrice]),
      [["ACME", 10, 100, "number"]],
    );
    const orders = await api.invoke<OrderList>({ op: "orders.list", limit: 10 });
    assert.deepEqual(
      orders.orders.map((o) => [o.brokerOrderId, o.avgFillPrice]),
      [["dry-run:x", 100]],
    );
    assert.equal((await api.invoke<OrderList>({ op: "orders.list", open: true, limit: 10 })).total, 0);
    const snapshot = await api.invoke<StatusSnapshot>({ op: "status.snapshot" });
    assert.deepEqual(snapshot.positions?.accounts[0]?.tickers, ["ACME"]);
    assert.equal(snapshot.reconciliation?.openDifferences, 0);

    const asOf = new Date(clock.now().getTime() - 60_000);
    const [toApprove, toReject] = await insertRecommendationRows(db.pool, [
      recommendation({ ticker: "APPR", asOf }),
      recommendation({ ticker: "REJT", asOf }),
    ]);
    // Through the function URL the caller is the IAM principal AWS verified, not the request's claim.
    const caller = "arn:aws:iam::123456789012:user/alice";
    const approved = await handleOperation(
      db.stagePool,
      clock,
      { op: "recs.approve", id: toApprove, by: "mallory@laptop", reason: "checked" },
      { caller },
    );
    assert.ok(approved.ok, JSON.stringify(approved));
    assert.deepEqual(
      [(approved.result as ApprovalResult).by, (approved.result as ApprovalResult).status],
      [caller, "PENDING"],
    );
    // Lambda Invoke carries no verified caller: the claim is recorded, marked unverified.
    const rejected = await api.invoke<ApprovalResult>({
      op: "recs.reject",
      id: toReject as number,
      by: "bob@desk",
      reason: null,
    });
    assert.deepEqual([rejected.by, rejected.status], ["unverified:bob@desk", "REJECTED"]);
    const again = await handleOperation(db.stagePool, clock, {
      op: "recs.reject",
      id: toApprove,
      by: "bob@desk",
      reason: null,
    });
    assert.deepEqual(again.ok ? null : again.error.code, "REC_ALREADY_DECIDED");
    const list = await api.invoke<RecommendationList>({ op: "recs.list", ticker: "APPR", limit: 5 });
    assert.deepEqual(list.recommendations[0]?.approval, {
      decision: "approved",
      by: caller,
      at: clock.now().toISOString(),
      reason: "checked",
    });
    await assert.rejects(
      runOperation(db.stagePool, clock, {
        op: "recs.approve",
        id: toApprove,
        by: "x",
        reason: null,
        sql: "1",
      }),
      OpsRequestError,
    );
  });

  it("queues operator exits in the account it is sent, recorded with the caller, as its own role", async () => {
    const api = opsApiClient(lambda, "ops-api");
    const at = sql.timestamp(clock.now());
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
      VALUES ('alpaca-paper', 100000, 99000, ${at}, ${at}) ON CONFLICT (account) DO NOTHING`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('alpaca-paper', 'ZETA', 5, 20, ${at}, ${at}), ('alpaca-paper', 'YOTA', 3, 30, ${at}, ${at})`);
    const caller = "arn:aws:iam::123456789012:user/alice";
    const one = await handleOperation(
      db.stagePool,
      clock,
      { op: "exits.close", tickers: ["ZETA"], account: "alpaca-paper", by: "mallory", reason: "earnings" },
      { caller },
    );
    assert.ok(one.ok, JSON.stringify(one));
    const first = one.result as CloseReport;
    assert.deepEqual(
      [first.account, first.by, first.requested.map((r) => [r.ticker, r.quantity])],
      ["alpaca-paper", caller, [["ZETA", 5]]],
    );
    // Through Invoke: the claim, unverified; ZETA's exit already waits and stands.
    const all = await api.invoke<CloseReport>({
      op: "exits.close",
      tickers: "all",
      account: "alpaca-paper",
      by: "bob@desk",
      reason: null,
    });
    assert.deepEqual(
      [all.by, all.requested.map((r) => r.ticker), all.alreadyPending.map((p) => p.ticker)],
      ["unverified:bob@desk", ["YOTA"], ["ZETA"]],
    );
    const rows = await db.pool.any(sql.unsafe`
      SELECT ticker, account, reason, requested_by, note FROM dispatch_exits
      WHERE account = 'alpaca-paper' ORDER BY ticker`);
    assert.deepEqual(rows, [
      {
        ticker: "YOTA",
        account: "alpaca-paper",
        reason: "operator",
        requested_by: "unverified:bob@desk",
        note: null,
      },
      { ticker: "ZETA", account: "alpaca-paper", reason: "operator", requested_by: caller, note: "earnings" },
    ]);
    await assert.rejects(
      api.invoke({ op: "exits.close", tickers: ["NOPE"], account: "alpaca-paper", by: "bob", reason: null }),
      (error: unknown) => error instanceof OpsApiError && error.code === "NOT_HELD",
    );
    // Only an account the dispatcher trades, tickers as the pipeline spells them, nothing extra.
    for (const request of [
      { op: "exits.close", tickers: "all", account: "live", by: "bob", reason: null },
      { op: "exits.close", tickers: ["zeta"], account: "alpaca-paper", by: "bob", reason: null },
      { op: "exits.close", tickers: [], account: "alpaca-paper", by: "bob", reason: null },
      { op: "exits.close", tickers: "all", by: "bob", reason: null },
      { op: "exits.close", tickers: "all", account: "dry-run", by: "bob", reason: null, quantity: 1 },
    ]) {
      await assert.rejects(
        runOperation(db.stagePool, clock, request),
        OpsRequestError,
        JSON.stringify(request),
      );
    }
  });

  it("reports reconciliation differences and accepts them with the caller, as its own role", async () => {
    const api = opsApiClient(lambda, "ops-api");
    const at = sql.timestamp(clock.now());
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('alpaca-paper', 'RECO', 5, 10, ${at}, ${at})`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_reconcile_diffs (account, kind, subject, broker, pipeline, found_at, last_seen_at)
      VALUES ('alpaca-paper', 'position', 'RECO', ${sql.jsonb({ quantity: 7, avgEntryPrice: 11 })},
              ${sql.jsonb({ quantity: 5, avgEntryPrice: 10 })}, ${at}, ${at})`);
    const report = await api.invoke<ReconcileReport>({ op: "reconcile.report" });
    assert.deepEqual(
      [report.tradingState, report.differences.map((d) => [d.kind, d.subject, d.broker?.quantity])],
      ["reducing", [["position", "RECO", 7]]],
    );
    const caller = "arn:aws:iam::123456789012:user/alice";
    const accepted = await handleOperation(
      db.stagePool,
      clock,
      { op: "reconcile.accept", by: "mallory" },
      { caller },
    );
    assert.ok(accepted.ok, JSON.stringify(accepted));
    assert.deepEqual(
      (accepted.result as ReconcileDifference[]).map((d) => d.subject),
      ["RECO"],
    );
    assert.deepEqual(
      await db.pool.one(sql.unsafe`
        SELECT d.accepted_by, p.quantity, p.avg_cost FROM dispatch_reconcile_diffs d
        JOIN dispatch_positions p ON p.account = d.account AND p.ticker = d.subject WHERE d.subject = 'RECO'`),
      { accepted_by: caller, quantity: 7, avg_cost: 11 },
    );
    assert.equal((await api.invoke<ReconcileReport>({ op: "reconcile.report" })).tradingState, "active");
    // Invoke: nothing left to accept; the claim would be recorded unverified.
    assert.deepEqual(await api.invoke<ReconcileDifference[]>({ op: "reconcile.accept", by: "bob" }), []);
    await assert.rejects(
      runOperation(db.stagePool, clock, { op: "reconcile.accept", by: "bob", reason: "x" }),
      OpsRequestError,
    );
  });

  it("passes an operator error the function reports through with its code", async () => {
    await assert.rejects(
      opsApiClient(lambda, "ops-api").invoke({ op: "nope" } as never),
      (error: unknown) => error instanceof OpsApiError && error.code === "OPS_REQUEST_INVALID",
    );
  });
});
