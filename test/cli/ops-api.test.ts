import assert from "node:assert/strict";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { OpsApiError, opsApiClient } from "../../cli/src/aws-backend.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import type { FeedRow } from "../../services/ops/feeds.ts";
import type { RecommendationExplanation, RecommendationList } from "../../services/ops/recs.ts";
import type { ReplayReport } from "../../services/ops/replay.ts";
import type { StatusSnapshot } from "../../services/ops/status.ts";
import { handleOperation, OpsRequestError, runOperation } from "../../services/ops-api/operations.ts";
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

  it("passes an operator error the function reports through with its code", async () => {
    await assert.rejects(
      opsApiClient(lambda, "ops-api").invoke({ op: "nope" } as never),
      (error: unknown) => error instanceof OpsApiError && error.code === "OPS_REQUEST_INVALID",
    );
  });
});
