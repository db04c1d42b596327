import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { paperPortfolio } from "../../services/dispatcher/portfolio.ts";
import { useTestDatabase } from "../helpers/db.ts";
import {
  deps,
  FakeAlpaca,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
} from "./helpers.ts";

const CHILD = path.join(import.meta.dirname, "fixtures", "crash-child.ts");

function startChild(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  return { child, output: () => out };
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

const countRow = z.object({ executions: z.number(), status: z.string(), claimed_by: z.string().nullable() });

describe("a dispatcher killed mid-execution and restarted", () => {
  const db = useTestDatabase();
  const alpaca = new FakeAlpaca();
  before(() => alpaca.start());
  after(() => alpaca.stop());
  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    alpaca.requests.length = 0;
    alpaca.orders.clear();
    alpaca.holdPosts = false;
  });

  const state = () =>
    db.pool.one(sql.type(countRow)`
      SELECT (SELECT count(*)::int FROM dispatch_executions) AS executions, status, claimed_by
      FROM dispatch_recommendations`);

  it("in dry-run: the killed transaction leaves nothing, and the restart executes once", async () => {
    await insertCandles(db.pool, ["AAPL"]);
    const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    const { child, output } = startChild({ DB_URL: db.url, NOW: OPEN_NOW });
    try {
      await until(() => output().includes(`HOLDING ${id}`), "the child to hold its transaction");
      await kill(child);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    // The server notices the dead connection and rolls back; until then the row stays locked
    // (SKIP LOCKED passes over it), hence the retries.
    const restarted = deps(db.pool, { clock: new FakeClock(OPEN_NOW), instance: "successor" });
    let decided = 0;
    for (let i = 0; i < 100 && decided === 0; i++) {
      decided = (await dispatchBatch(restarted)).decided;
      if (decided === 0) await new Promise((r) => setTimeout(r, 100));
    }
    const after = await state();
    assert.equal(after.status, "EXECUTED");
    assert.equal(after.executions, 1);
    assert.equal(after.claimed_by, "successor");
    const portfolio = await paperPortfolio(db.pool, new Date(OPEN_NOW));
    assert.equal(portfolio.positions.length, 1);
    assert.equal(portfolio.positions[0]?.quantity, 10, "the position was bought once");
    assert.equal(alpaca.requests.length, 0);
  });

  it("with a broker: the order placed before the kill is found by client_order_id, never placed twice", async () => {
    await setParam(db.pool, "dry-run", false);
    await insertCandles(db.pool, ["AAPL"]);
    const [id] = await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    alpaca.holdPosts = true;
    const posted = alpaca.nextPost();
    const { child, output } = startChild({ DB_URL: db.url, NOW: OPEN_NOW, BROKER_URL: alpaca.url });
    try {
      await Promise.race([
        posted,
        once(child, "exit").then(() => {
          throw new Error(`child exited before posting: ${output()}`);
        }),
      ]);
      await kill(child);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    alpaca.holdPosts = false;
    assert.equal(alpaca.posts().length, 1);
    assert.equal((await state()).executions, 0, "the killed dispatcher recorded nothing");

    const restarted = deps(db.pool, {
      clock: new FakeClock(OPEN_NOW),
      broker: alpaca.broker(),
      instance: "successor",
    });
    let decided = 0;
    for (let i = 0; i < 100 && decided === 0; i++) {
      decided = (await dispatchBatch(restarted)).decided;
      if (decided === 0) await new Promise((r) => setTimeout(r, 100));
    }
    const after = await state();
    assert.equal(after.status, "EXECUTED");
    assert.equal(after.executions, 1);
    assert.equal(alpaca.posts().length, 1, "no second broker order");
    assert.equal(alpaca.placedOrders().length, 1);
    const details = await db.pool.oneFirst(sql.unsafe`
      SELECT details FROM dispatch_executions WHERE recommendation_id = ${id ?? 0}`);
    assert.equal((details as { recovered: boolean }).recovered, true);
  });

  it("with a broker and dry-run turned on before the restart: the broker is not called and the recommendation waits", async () => {
    await setParam(db.pool, "dry-run", false);
    await insertCandles(db.pool, ["AAPL"]);
    await insertRecommendations(db.pool, [{ ticker: "AAPL" }]);
    alpaca.holdPosts = true;
    const posted = alpaca.nextPost();
    const { child } = startChild({ DB_URL: db.url, NOW: OPEN_NOW, BROKER_URL: alpaca.url });
    try {
      await posted;
      await kill(child);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    alpaca.holdPosts = false;
    alpaca.requests.length = 0;
    await setParam(db.pool, "dry-run", true);
    const restarted = deps(db.pool, { clock: new FakeClock(OPEN_NOW), broker: alpaca.broker() });
    await new Promise((r) => setTimeout(r, 300));
    const summary = await dispatchBatch(restarted);
    assert.equal(summary.decided, 0);
    assert.equal(alpaca.requests.length, 0);
    const after = await state();
    assert.equal(after.status, "PENDING");
    assert.equal(after.executions, 0, "no paper fill shadows a possible broker order");
  });
});
