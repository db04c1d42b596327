import assert from "node:assert/strict";
import { once } from "node:events";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { TradeStream } from "../../services/dispatcher/trade-stream.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  deps,
  FakeAlpaca,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
  silentLogger,
} from "./helpers.ts";

const fillRow = z.object({
  execution_id: z.string(),
  quantity: z.number(),
  price: z.number(),
  source: z.string(),
});
const orderRow = z.object({ status: z.string(), terminal: z.boolean(), filled_qty: z.number() });
const positionRow = z.object({ quantity: z.number(), avg_cost: z.number() });

describe("an order followed to its terminal state (trade_updates stream + REST)", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });
  const alpaca = new FakeAlpaca();
  const clock = new FakeClock(new Date(OPEN_NOW));
  const streams: TradeStream[] = [];
  before(() => alpaca.start());
  after(() => alpaca.stop());
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    alpaca.orders.clear();
    alpaca.requests.length = 0;
    alpaca.streamUp = true;
    alpaca.fillPrice = null; // the POST answers "accepted": fills come later, by the stream
    await setParam(db.pool, "dry-run", false);
    await insertCandles(db.pool, ["AAPL"], { close: 100 });
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) await s.stop();
  });

  function follower(options: { earlyRestDelayMs?: number } = {}): TradeStream {
    const s = new TradeStream(
      { db: db.stagePool, clock, logger: silentLogger, broker: alpaca.broker(), startingCashUsd: 100_000 },
      // Long enough that no fallback poll runs unasked during a test: each test says when REST runs.
      { pollIntervalMs: 60_000, reconnectDelayMs: 20, heartbeatMs: 60_000, ...options },
    );
    streams.push(s);
    return s;
  }

  async function placeOne(): Promise<{ clientOrderId: string; qty: number }> {
    const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.equal(summary.executed, 1);
    const order = alpaca.orders.get(String(id));
    assert.ok(order, "the broker has the order");
    return { clientOrderId: String(id), qty: Number(order.qty) };
  }

  const fills = () =>
    db.pool.any(
      // Not the shadow's: the shadow (issue 15) fills its own simulated copy at placement.
      sql.type(fillRow)`
        SELECT execution_id, quantity, price, source FROM dispatch_fills WHERE account <> 'shadow' ORDER BY id`,
    );
  const order = () =>
    db.pool.one(
      sql.type(
        orderRow,
      )`SELECT status, terminal, filled_qty FROM dispatch_orders WHERE account <> 'shadow' AND leg IS NULL`,
    );
  const position = () =>
    db.pool.maybeOne(sql.type(positionRow)`
      SELECT quantity, avg_cost FROM dispatch_positions WHERE account = 'alpaca-paper' AND ticker = 'AAPL'`);

  it("moves no position when the order is only accepted", async () => {
    await placeOne();
    assert.equal(await position(), null);
    assert.deepEqual(await order(), { status: "accepted", terminal: false, filled_qty: 0 });
  });

  it("counts an accepted, unfilled BUY as held: a second entry in the ticker is refused until it ends", async () => {
    await placeOne();
    await insertRecommendations(db.pool, [{ ticker: "AAPL", asOf: "2026-12-01T14:57:00.000Z" }]);
    const summary = await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    assert.deepEqual(
      summary.outcomes.map((o) => (o.status === "REJECTED" ? o.rejectedGate : o.status)),
      ["holding"],
    );
    assert.equal(alpaca.posts().length, 1);
  });

  it("records a partial fill then a cancel: the position holds what filled, the order ends canceled", async () => {
    const { clientOrderId, qty } = await placeOne();
    const s = follower();
    s.start();
    await once(s, "listening");
    const partial = alpaca.fill(clientOrderId, qty / 2, 99);
    await once(s, "update");
    alpaca.cancel(clientOrderId);
    await once(s, "update");
    alpaca.sendRaw(partial); // the same message again: counted once
    await once(s, "update");
    assert.deepEqual(await fills(), [
      { execution_id: "exec-1", quantity: qty / 2, price: 99, source: "stream" },
    ]);
    assert.deepEqual(await position(), { quantity: qty / 2, avg_cost: 99 });
    assert.deepEqual(await order(), { status: "canceled", terminal: true, filled_qty: qty / 2 });
  });

  it("records a fill that arrives before its order is registered by an early REST pass, once", async () => {
    const s = follower({ earlyRestDelayMs: 100 });
    s.start();
    await once(s, "listening");
    // The broker has the order and fills it, but its POST answer is still on the way.
    alpaca.holdPosts = true;
    const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    const posted = alpaca.nextPost();
    const batch = dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    await posted;
    const clientOrderId = String(id);
    const qty = Number(alpaca.orders.get(clientOrderId)?.qty);
    const early = alpaca.fill(clientOrderId, qty, 101);
    const [outcome] = (await once(s, "update")) as [{ kind: string }];
    assert.equal(outcome.kind, "unknown-order");
    const unknownAt = Date.now();
    const before = alpaca.requests.length;
    alpaca.releaseHeldPosts();
    alpaca.holdPosts = false;
    assert.equal((await batch).executed, 1);
    // The POST's answer said "accepted": the placement moved nothing.
    assert.equal(await position(), null);
    // No fallback poll runs in this test (60 s): only the early pass can record it, in well under that.
    for (;;) {
      const [{ registered }] = (await once(s, "early-synced")) as [{ registered: string[] }];
      if (registered.length > 0) break;
    }
    const waitedMs = Date.now() - unknownAt;
    assert.ok(waitedMs < 5_000, `recorded ${waitedMs} ms after the fill`);
    // REST read the order (GET /v2/orders/{id}: it is no longer open at the broker).
    const orderId = alpaca.orders.get(clientOrderId)?.id;
    assert.ok(alpaca.requests.slice(before).some((r) => r.path === `/v2/orders/${orderId}`));
    assert.deepEqual(
      (await fills()).map((f) => [f.quantity, f.price, f.source]),
      [[qty, 101, "rest"]],
    );
    assert.deepEqual(await position(), { quantity: qty, avg_cost: 101 });
    assert.deepEqual(await order(), { status: "filled", terminal: true, filled_qty: qty });
    // The broker's message again, and a later poll: still counted once.
    alpaca.sendRaw(early);
    await once(s, "update");
    await s.sync();
    assert.equal((await fills()).length, 1);
    assert.deepEqual(await position(), { quantity: qty, avg_cost: 101 });
  });

  it("coalesces early REST passes and gives up on an order that is never registered", async () => {
    const s = follower({ earlyRestDelayMs: 50 });
    s.start();
    await once(s, "listening");
    const byHand = [alpaca.placeByHand("MSFT", 1, null), alpaca.placeByHand("NVDA", 1, null)];
    const listsBefore = alpaca.requests.filter((r) => r.path === "/v2/orders").length;
    const passes: string[][] = [];
    s.on("early-synced", ({ registered }: { registered: string[] }) => passes.push(registered));
    const third = new Promise<void>((resolve) =>
      s.on("early-synced", () => {
        if (passes.length === 3) resolve();
      }),
    );
    for (const o of byHand) alpaca.fill(o.client_order_id, 1, 300);
    await third;
    // Ten more delays: no fourth pass comes.
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Two unknown fills, one pass per attempt, three attempts, then none.
    assert.deepEqual(passes, [[], [], []]);
    const lists = alpaca.requests.filter((r) => r.path === "/v2/orders").length - listsBefore;
    assert.equal(lists, 3);
    assert.deepEqual(await fills(), []);
  });

  it("finds by REST on reconnect an order filled while the stream was down, and counts the late message once", async () => {
    const { clientOrderId, qty } = await placeOne();
    const s = follower();
    s.start();
    await once(s, "listening");
    alpaca.dropStream();
    await once(s, "disconnected");
    const missed = alpaca.fill(clientOrderId, qty, 102, { emit: false });
    alpaca.streamUp = true;
    await once(s, "listening");
    assert.deepEqual(await position(), { quantity: qty, avg_cost: 102 });
    assert.deepEqual(await order(), { status: "filled", terminal: true, filled_qty: qty });
    alpaca.sendRaw(missed); // the broker's own message for that fill, arriving late
    await once(s, "update");
    const recorded = await fills();
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]?.source, "rest");
    assert.deepEqual(await position(), { quantity: qty, avg_cost: 102 });
  });

  it("loses nothing and duplicates nothing across a restart mid-lifecycle", async () => {
    const { clientOrderId, qty } = await placeOne();
    const first = follower();
    first.start();
    await once(first, "listening");
    const partial = alpaca.fill(clientOrderId, qty / 4, 100);
    await once(first, "update");
    await first.stop();
    alpaca.fill(clientOrderId, (qty * 3) / 4, 104, { emit: false }); // while no follower runs
    const second = follower();
    second.start();
    await once(second, "listening");
    alpaca.sendRaw(partial); // replayed after the restart
    await once(second, "update");
    const recorded = await fills();
    assert.deepEqual(
      recorded.map((f) => [f.quantity, f.price]),
      [
        [qty / 4, 100],
        [(qty * 3) / 4, 104],
      ],
    );
    const held = await position();
    assert.equal(held?.quantity, qty);
    assert.ok(Math.abs((held?.avg_cost ?? 0) - 103) < 1e-9, `average cost ${held?.avg_cost}`);
    assert.equal((await order()).terminal, true);
  });

  it("ignores malformed JSON, an unknown event and an unknown order, then still records the next fill", async () => {
    const { clientOrderId, qty } = await placeOne();
    const s = follower();
    s.start();
    await once(s, "listening");
    alpaca.sendRaw("{not json");
    alpaca.sendRaw(JSON.stringify({ stream: "trade_updates", data: { event: "fill" } }));
    const strange = JSON.parse(alpaca.fill(clientOrderId, 0, 100, { emit: false })) as {
      data: { event: string; order: { id: string } };
    };
    alpaca.sendRaw(JSON.stringify({ ...strange, data: { ...strange.data, event: "teleported" } }));
    alpaca.sendRaw(
      JSON.stringify({
        ...strange,
        data: { ...strange.data, order: { ...strange.data.order, id: "by-hand" } },
      }),
    );
    const unknown = once(s, "update");
    const [outcome] = (await unknown) as [{ kind: string }];
    assert.equal(outcome.kind, "unknown-order");
    alpaca.fill(clientOrderId, qty, 100);
    await once(s, "update");
    assert.deepEqual(await position(), { quantity: qty, avg_cost: 100 });
  });

  it("counts a fill larger than the order only up to the order's quantity", async () => {
    const { clientOrderId, qty } = await placeOne();
    const s = follower();
    s.start();
    await once(s, "listening");
    const frame = JSON.parse(alpaca.fill(clientOrderId, qty, 100, { emit: false })) as {
      data: { qty: string; order: { filled_qty: string } };
    };
    frame.data.qty = String(qty * 2);
    frame.data.order.filled_qty = String(qty * 2);
    alpaca.sendRaw(JSON.stringify(frame));
    await once(s, "update");
    assert.deepEqual(await position(), { quantity: qty, avg_cost: 100 });
    assert.equal((await order()).filled_qty, qty);
  });

  it("records a dry-run fill through the same path: one order, one simulator fill", async () => {
    await setParam(db.pool, "dry-run", true);
    await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    await dispatchBatch(deps(db.stagePool, { clock, broker: alpaca.broker() }));
    const recorded = await fills();
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]?.source, "simulator");
    assert.deepEqual(await order(), { status: "filled", terminal: true, filled_qty: recorded[0]?.quantity });
    assert.equal(alpaca.requests.length, 0);
  });
});
