import assert from "node:assert/strict";
import * as z from "zod";
import type { OpsBackend } from "../../cli/src/backend.ts";
import { ACTIVE_CONFIRMATION, setTradingState } from "../../cli/src/commands/trading.ts";
import type { ConfirmEnvironment } from "../../cli/src/confirm.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { OperatorError } from "../../services/common/errors.ts";
import { postgresParameterStore } from "../../services/common/params/postgres.ts";
import { dispatchBatch } from "../../services/dispatcher/dispatcher.ts";
import { acknowledgeTrips, readTradingFacts, tradingReport } from "../../services/ops/trading.ts";
import {
  deps,
  insertCandles,
  insertRecommendations,
  OPEN_NOW,
  resetDispatcherTables,
  setParam,
} from "../dispatcher/helpers.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { stubBackend } from "./helpers/stub-backend.ts";

const at = (minutes: number) => new Date(new Date(OPEN_NOW).getTime() + minutes * 60_000).toISOString();

function confirmer(answer: string | null, tty = true): ConfirmEnvironment & { asked: number } {
  const env = {
    yes: false,
    tty,
    ci: false,
    asked: 0,
    ask: async (_message: string, expected: string) => {
      env.asked += 1;
      return answer === expected;
    },
  };
  return env;
}

describe("opsctl trading: setting the trading state through the backend", () => {
  const db = useTestDatabase();
  const clock = new FakeClock(OPEN_NOW);
  /** The local backend's trading operations, over the test database. */
  const backend = (): OpsBackend => {
    const store = postgresParameterStore(db.pool);
    return stubBackend({
      clock,
      params: () => store,
      tradingReport: async () => tradingReport(await readTradingFacts(db.pool), await store.getAll()),
      acknowledgeTrips: (who, reason) => acknowledgeTrips(db.pool, { who, reason, now: clock.now() }),
    });
  };
  const run = () =>
    dispatchBatch(deps(db.pool, { clock, settings: { slippageBps: 0, feeBps: 0, feePerOrderUsd: 0 } }));
  const openTrips = () =>
    db.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int AS n FROM dispatch_trading_trips WHERE acknowledged_at IS NULL`);

  beforeEach(async () => {
    await resetDispatcherTables(db.pool);
    clock.set(OPEN_NOW);
    // A daily-loss trip: 10 AAPL bought at 100, marked at 94 against a 50 limit.
    await insertCandles(db.pool, ["AAPL", "MSFT"], { close: 100 });
    await setParam(db.pool, "max-daily-loss-usd", 50);
    await insertRecommendations(db.pool, [{ ticker: "AAPL", asOf: at(-1) }]);
    await run();
    clock.set(at(5));
    await insertCandles(db.pool, ["AAPL"], { close: 94, endsAt: at(5) });
    await insertRecommendations(db.pool, [{ ticker: "MSFT", asOf: at(4) }]);
    await run();
    assert.equal(await openTrips(), 1);
  });

  it("returns to active over a trip only after the operator types the word, acknowledging it", async () => {
    const confirm = confirmer(ACTIVE_CONFIRMATION);
    await setParam(db.pool, "trading-state", "reducing");
    const result = await setTradingState(backend(), "active", {
      reason: "loss reviewed",
      yes: false,
      retry: "opsctl trading active",
      confirm,
    });
    assert.equal(confirm.asked, 1);
    assert.deepEqual(
      result.acknowledged.map((t) => t.kind),
      ["daily-loss-limit"],
    );
    assert.deepEqual([result.change.oldValue, result.change.newValue], ["reducing", "active"]);
    assert.equal(result.after.state, "active");
    assert.equal(await openTrips(), 0);
    const audit = await db.pool.one(
      sql.type(
        z.object({ key: z.string(), new_value: z.unknown(), reason: z.string().nullable() }),
      )`SELECT key, new_value, reason FROM param_audit WHERE key = 'trading-state' ORDER BY id DESC LIMIT 1`,
    );
    assert.deepEqual(audit, { key: "trading-state", new_value: "active", reason: "loss reviewed" });
  });

  it("acknowledges nothing when the word is not typed, or when there is no terminal and no --yes", async () => {
    await assert.rejects(
      setTradingState(backend(), "active", { yes: false, retry: "x", confirm: confirmer("nope") }),
      (error: unknown) => error instanceof OperatorError && error.code === "NOT_CONFIRMED",
    );
    await assert.rejects(
      setTradingState(backend(), "active", { yes: false, retry: "x", confirm: confirmer(null, false) }),
      (error: unknown) => error instanceof OperatorError && error.code === "CONFIRMATION_REQUIRED",
    );
    assert.equal(await openTrips(), 1);
  });

  it("halted changes the state and nothing else: the kill switch stays off, a SELL is refused too", async () => {
    const result = await setTradingState(backend(), "halted", {
      yes: false,
      retry: "x",
      confirm: confirmer(null),
    });
    assert.equal(result.after.state, "halted");
    assert.deepEqual(result.acknowledged, [], "halting acknowledges no trip");
    const params = await postgresParameterStore(db.pool).getAll();
    assert.equal(params["kill-switch"].engaged, false);
    clock.set(at(10));
    await insertCandles(db.pool, ["AAPL"], { close: 100, endsAt: at(10) });
    await insertRecommendations(db.pool, [{ ticker: "AAPL", side: "SELL", asOf: at(9) }]);
    await run();
    const sell = await db.pool.oneFirst(sql.type(z.object({ g: z.string().nullable() }))`
      SELECT rejected_gate AS g FROM dispatch_recommendations WHERE side = 'SELL'`);
    assert.equal(sell, "trading-state");
  });
});
