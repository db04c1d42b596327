import type { Clock } from "../common/clock.ts";
import type { DatabasePool } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { alpacaSymbol } from "../common/symbols.ts";
import type { Broker, BrokerAccount, BrokerOrder, BrokerPosition } from "./executors/types.ts";
import { openOrderIds } from "./fill-queries.ts";
import { takeRiskLock } from "./queries.ts";
import {
  pipelineCash,
  pipelineOpenLegIds,
  pipelinePositions,
  recordDifferences,
  recordFailedRun,
} from "./reconcile-queries.ts";
import { syncFromRest } from "./trade-stream.ts";

/**
 * Reconciliation: the broker's positions, open orders and account against the database. Each
 * difference is recorded with both sides; while one is open, the trading-state gate keeps
 * trading reduce-only (gates.ts) until the sides agree again or an operator accepts the
 * broker's view (services/ops/reconcile.ts, `opsctl reconcile --accept`).
 */

export interface Difference {
  kind: "position" | "open_order" | "account";
  subject: string;
  broker: Record<string, unknown> | null;
  pipeline: Record<string, unknown> | null;
}

export interface PipelineSnapshot {
  positions: readonly { ticker: string; quantity: number; avg_cost: number }[];
  openOrderIds: readonly string[];
  /** Of openOrderIds, the bracket legs (dispatch_orders.leg) registered here. */
  openLegIds: readonly string[];
  cash: number | null;
}

export interface BrokerSnapshot {
  positions: readonly BrokerPosition[];
  openOrders: readonly BrokerOrder[];
  /**
   * Orders the open-orders listing left out that the broker, asked for each by id (the REST
   * pass before the comparison), said it holds: Alpaca reports a bracket's leg waiting on its
   * parent or on the other leg as "held" and may leave it out of GET /v2/orders?status=open.
   */
  heldUnlisted: readonly string[];
  account: BrokerAccount;
}

const QUANTITY_TOLERANCE = 1e-6;
const CASH_TOLERANCE_USD = 0.01;

/** The differences between the two views (pure). */
export function compareWithBroker(broker: BrokerSnapshot, pipeline: PipelineSnapshot): Difference[] {
  const differences: Difference[] = [];
  const brokerBySymbol = new Map(broker.positions.map((p) => [p.symbol, p]));
  for (const held of pipeline.positions) {
    const symbol = alpacaSymbol(held.ticker);
    const theirs = brokerBySymbol.get(symbol);
    brokerBySymbol.delete(symbol);
    const theirQty = theirs ? Number(theirs.qty) : 0;
    if (Math.abs(theirQty - held.quantity) > QUANTITY_TOLERANCE) {
      differences.push({
        kind: "position",
        subject: held.ticker,
        broker: theirs ? { quantity: theirQty, avgEntryPrice: Number(theirs.avg_entry_price) } : null,
        pipeline: { quantity: held.quantity, avgCost: held.avg_cost },
      });
    }
  }
  for (const [symbol, theirs] of brokerBySymbol) {
    differences.push({
      kind: "position",
      subject: symbol,
      broker: { quantity: Number(theirs.qty), avgEntryPrice: Number(theirs.avg_entry_price) },
      pipeline: null,
    });
  }
  const ours = new Set(pipeline.openOrderIds);
  for (const order of broker.openOrders) {
    if (ours.delete(order.id)) continue;
    differences.push({
      kind: "open_order",
      subject: order.id,
      broker: { symbol: order.symbol, side: order.side, qty: order.qty ?? null, status: order.status },
      pipeline: null,
    });
  }
  // A leg registered here that the broker holds is the position's exit, in place: no difference.
  // Anything else open here and not at the broker is one (a leg the broker does not know included).
  const legs = new Set(pipeline.openLegIds);
  const held = new Set(broker.heldUnlisted);
  for (const id of ours) {
    if (legs.has(id) && held.has(id)) continue;
    differences.push({ kind: "open_order", subject: id, broker: null, pipeline: { open: true } });
  }
  const cash = Number(broker.account.cash);
  if (
    pipeline.cash === null ||
    !Number.isFinite(cash) ||
    Math.abs(cash - pipeline.cash) > CASH_TOLERANCE_USD
  ) {
    differences.push({
      kind: "account",
      subject: "cash",
      broker: { cash, equity: broker.account.equity ? Number(broker.account.equity) : null },
      pipeline: pipeline.cash === null ? null : { cash: pipeline.cash },
    });
  }
  return differences;
}

export interface ReconcileDeps {
  db: DatabasePool;
  clock: Clock;
  logger: Logger;
  broker: Broker;
  startingCashUsd: number;
}

/**
 * One reconciliation run: REST catches the orders up first (so a fill the stream missed is not
 * a difference), then the broker's view is read and compared, under the risk lock, with the
 * database's. Returns the differences found; a broker that cannot be asked is a failed run
 * (logged and recorded), never a difference.
 */
export async function reconcileOnce(deps: ReconcileDeps): Promise<Difference[] | null> {
  const account = "alpaca-paper" as const;
  try {
    const { heldUnlisted } = await syncFromRest(deps);
    const [positions, openOrders, brokerAccount] = await Promise.all([
      deps.broker.listPositions(),
      deps.broker.listOpenOrders(),
      deps.broker.getAccount(),
    ]);
    const differences = await deps.db.transaction(async (tx) => {
      await takeRiskLock(tx);
      const pipeline: PipelineSnapshot = {
        positions: await pipelinePositions(tx, account),
        openOrderIds: await openOrderIds(tx, account),
        openLegIds: await pipelineOpenLegIds(tx, account),
        cash: await pipelineCash(tx, account),
      };
      const found = compareWithBroker(
        { positions, openOrders, heldUnlisted, account: brokerAccount },
        pipeline,
      );
      await recordDifferences(tx, account, found, deps.clock.now());
      return found;
    });
    if (differences.length > 0) {
      deps.logger.warn(
        { differences: differences.map((d) => `${d.kind}/${d.subject}`) },
        "broker and database disagree: trading is reduce-only until `opsctl reconcile --accept`",
      );
    }
    return differences;
  } catch (error) {
    deps.logger.error({ error: describeCause(error) }, "reconciliation failed; retried on the next run");
    await recordFailedRun(deps.db, account, deps.clock.now(), describeCause(error)).catch(() => undefined);
    return null;
  }
}

/** Every 5 minutes, beside the dispatcher; the first run at start. */
export const RECONCILE_INTERVAL_MS = 5 * 60_000;

/** Runs reconcileOnce now and every `intervalMs` until stopped. */
export function startReconciling(deps: ReconcileDeps, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<unknown> = reconcileOnce(deps);
  const timer = setInterval(() => {
    running = running.then(() => reconcileOnce(deps));
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
