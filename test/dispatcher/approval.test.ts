import assert from "node:assert/strict";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { OperatorError } from "../../services/common/errors.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { decideRecommendation } from "../../services/ops/approvals.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  deps,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
} from "./helpers.ts";

const recRow = z.object({
  id: z.number(),
  status: z.string(),
  claimed_by: z.string().nullable(),
  rejected_gate: z.string().nullable(),
  gate_decisions: z.unknown(),
  approval: z.string().nullable(),
  approval_by: z.string().nullable(),
  approval_reason: z.string().nullable(),
});

type Decisions = { gate: string; passed: boolean; reason?: string; values: Record<string, unknown> }[];
const approvalGate = (rec: z.infer<typeof recRow> | undefined) =>
  (rec?.gate_decisions as Decisions | null)?.find((d) => d.gate === "approval");

const isCode = (code: string) => (error: unknown) => error instanceof OperatorError && error.code === code;

describe("dispatcher: require-approval (a human in the loop)", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  let clock: FakeClock;
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    clock = new FakeClock(OPEN_NOW);
    await insertCandles(db.pool, ["ACME", "BETA", "GAMA"]);
  });

  const rec = async (id: number) =>
    db.pool.one(sql.type(recRow)`
      SELECT id, status, claimed_by, rejected_gate, gate_decisions, approval, approval_by, approval_reason
      FROM dispatch_recommendations WHERE id = ${id}`);
  const executions = () => db.pool.oneFirst(sql.unsafe`SELECT count(*)::int FROM dispatch_executions`);
  // The operator's decisions run through the operator floor (services/ops/approvals.ts); its
  // grants as the ops-api role are proven in test/cli/ops-api.test.ts.
  const decide = (
    id: number,
    decision: "approved" | "rejected",
    by = "alice@desk",
    reason: string | null = null,
  ) => decideRecommendation(db.pool, { id, decision, by, reason, now: clock.now() });

  it("leaves a recommendation nobody approved PENDING and unclaimed, and executes nothing", async () => {
    await setParam(db.pool, "require-approval", true);
    const [id] = (await insertRecommendations(db.pool, [{ ticker: "ACME" }])) as [number];
    const summary = await dispatchBatch(deps(db.stagePool, { clock }));
    assert.equal(summary.decided, 0);
    const row = await rec(id);
    assert.deepEqual([row.status, row.claimed_by], ["PENDING", null]);
    assert.equal(await executions(), 0);
  });

  it("executes an approved recommendation with the simulator, the approval's who and why in the approval gate", async () => {
    await setParam(db.pool, "require-approval", true);
    const [waiting, approved] = (await insertRecommendations(db.pool, [
      { ticker: "ACME" },
      { ticker: "BETA" },
    ])) as [number, number];
    const result = await decide(approved, "approved", "alice@desk", "earnings confirmed");
    assert.deepEqual([result.decision, result.status, result.by], ["approved", "PENDING", "alice@desk"]);
    const summary = await dispatchBatch(deps(db.stagePool, { clock }));
    assert.deepEqual(
      summary.outcomes.map((o) => [o.id, o.status]),
      [[approved, "EXECUTED"]],
      "only the approved one is decided; the older unapproved one keeps waiting",
    );
    const row = await rec(approved);
    assert.equal(approvalGate(row)?.passed, true);
    assert.deepEqual(
      [approvalGate(row)?.values.required, approvalGate(row)?.values.by, approvalGate(row)?.values.reason],
      [true, "alice@desk", "earnings confirmed"],
    );
    const fills = await db.pool.any(sql.unsafe`SELECT source FROM dispatch_fills`);
    assert.deepEqual(fills, [{ source: "simulator" }], "the simulator's fill path recorded it");
    assert.equal((await rec(waiting)).status, "PENDING");
  });

  it("records a rejection at once, REJECTED at gate approval with who and why, and the dispatcher never executes it", async () => {
    await setParam(db.pool, "require-approval", true);
    const [id] = (await insertRecommendations(db.pool, [{ ticker: "ACME" }])) as [number];
    const result = await decide(id, "rejected", "bob@desk", "a rumour");
    assert.deepEqual([result.status, result.decision], ["REJECTED", "rejected"]);
    await setParam(db.pool, "require-approval", false);
    assert.equal((await dispatchBatch(deps(db.stagePool, { clock }))).decided, 0);
    const row = await rec(id);
    assert.deepEqual(
      [row.status, row.rejected_gate, row.approval, row.approval_by, row.approval_reason],
      ["REJECTED", "approval", "rejected", "bob@desk", "a rumour"],
    );
    assert.match(approvalGate(row)?.reason ?? "", /rejected by bob@desk: a rumour/);
    assert.equal(await executions(), 0);
  });

  it("rejects one still unapproved past max-recommendation-age-seconds at the approval gate, naming why, and not a second sooner", async () => {
    await setParam(db.pool, "require-approval", true);
    await setParam(db.pool, "max-recommendation-age-seconds", 600);
    const asOf = new Date(Date.parse(OPEN_NOW) - 60_000);
    const [id] = (await insertRecommendations(db.pool, [{ ticker: "ACME", asOf: asOf.toISOString() }])) as [
      number,
    ];
    clock.set(new Date(asOf.getTime() + 600_000));
    assert.equal(
      (await dispatchBatch(deps(db.stagePool, { clock }))).decided,
      0,
      "at the limit it still waits",
    );
    clock.advance(1_000);
    const summary = await dispatchBatch(deps(db.stagePool, { clock }));
    assert.deepEqual(summary.outcomes, [{ id, status: "REJECTED", rejectedGate: "approval" }]);
    const gate = approvalGate(await rec(id));
    assert.match(
      gate?.reason ?? "",
      /not approved within max-recommendation-age-seconds \(600s\): 601s since as_of/,
    );
    assert.deepEqual([gate?.values.decision, gate?.values.recommendationAgeSeconds], [null, 601]);
    await assert.rejects(decide(id, "approved"), isCode("REC_ALREADY_DECIDED"));
  });

  it("records the approval gate as not required while require-approval is off (the default)", async () => {
    const [id] = (await insertRecommendations(db.pool, [{ ticker: "ACME" }])) as [number];
    await dispatchBatch(deps(db.stagePool, { clock }));
    const row = await rec(id);
    assert.equal(row.status, "EXECUTED");
    assert.deepEqual([approvalGate(row)?.passed, approvalGate(row)?.values.required], [true, false]);
  });

  it("decides once when approvals and rejections of one recommendation race, and a second approval changes nothing", async () => {
    await setParam(db.pool, "require-approval", true);
    const ids = await insertRecommendations(db.pool, [
      { ticker: "ACME" },
      { ticker: "BETA" },
      { ticker: "GAMA" },
    ]);
    for (const id of ids) {
      // Ten operators at once on the pool's ten connections: approvals and rejections interleaved.
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          decide(id, i % 2 === 0 ? "approved" : "rejected", `op${i}@desk`),
        ),
      );
      const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      assert.equal(won.length, 1, `exactly one decision on #${id}`);
      for (const r of results) {
        if (r.status === "rejected") assert.ok(isCode("REC_ALREADY_DECIDED")(r.reason), String(r.reason));
      }
      const row = await rec(id);
      const winner = won[0];
      assert.deepEqual([row.approval, row.approval_by], [winner?.decision, winner?.by]);
      assert.equal(row.status, winner?.decision === "rejected" ? "REJECTED" : "PENDING");
    }
    const approved = (await db.pool.anyFirst(
      sql.unsafe`SELECT id FROM dispatch_recommendations WHERE approval = 'approved' ORDER BY id`,
    )) as number[];
    const summary = await dispatchBatch(deps(db.stagePool, { clock }));
    assert.deepEqual(
      summary.outcomes.map((o) => [o.id, o.status]).sort(),
      approved.map((id) => [id, "EXECUTED"]),
    );
    for (const id of approved) await assert.rejects(decide(id, "approved"), isCode("REC_ALREADY_DECIDED"));
    assert.equal(await executions(), approved.length);
  });

  it("an operator's rejection racing the dispatcher's decision waits for it, then changes nothing", async () => {
    const [id] = (await insertRecommendations(db.pool, [{ ticker: "ACME" }])) as [number];
    let rejection: Promise<unknown> | undefined;
    let settledInside = false;
    let settledBeforeCommit: boolean | null = null;
    const d = deps(db.stagePool, {
      clock,
      beforeCommit: async () => {
        // The dispatcher holds the row lock: the rejection's UPDATE must wait for its COMMIT.
        rejection = decide(id, "rejected", "bob@desk").finally(() => {
          settledInside = true;
        });
        rejection.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Read here, just before COMMIT: once the dispatcher commits, the rejection may finish
        // while dispatchBatch is still looking for the next recommendation.
        settledBeforeCommit = settledInside;
      },
    });
    const summary = await dispatchBatch(d);
    assert.equal(settledBeforeCommit, false, "the rejection waited for the dispatcher's transaction");
    assert.deepEqual(
      summary.outcomes.map((o) => o.status),
      ["EXECUTED"],
    );
    await assert.rejects(rejection as Promise<unknown>, isCode("REC_ALREADY_DECIDED"));
    const row = await rec(id);
    assert.deepEqual([row.status, row.approval], ["EXECUTED", null]);
  });

  it("refuses to reject one whose broker order may exist (a committed intent): the dispatcher recovers it", async () => {
    const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_broker_intents (recommendation_id, client_order_id, executor, instance, created_at, order_request, gate_decisions)
      VALUES (${id as number}, ${String(id)}, 'alpaca-paper', 'test', now(), '{}'::jsonb, '[]'::jsonb)`);
    await assert.rejects(
      decide(id as number, "rejected"),
      (error: unknown) => error instanceof OperatorError && error.code === "REC_IN_FLIGHT",
    );
    const status = await db.pool.oneFirst(sql.type(z.object({ status: z.string() }))`
      SELECT status FROM dispatch_recommendations WHERE id = ${id as number}`);
    assert.equal(status, "PENDING", "left to the dispatcher's recovery");
  });

  it("says which recommendation does not exist", async () => {
    await assert.rejects(decide(424242, "approved"), isCode("REC_NOT_FOUND"));
  });
});
