import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import type { Account } from "./portfolio.ts";

/** The order-lifecycle tables' SQL (sql/0100_dispatch_fills.sql); callers hold the risk lock. */

const orderRow = z.object({
  broker_order_id: z.string(),
  account: z.enum(["dry-run", "alpaca-paper", "shadow"]),
  client_order_id: z.string(),
  ticker: z.string(),
  side: z.enum(["BUY", "SELL"]),
  quantity: z.number(),
  status: z.string(),
  terminal: z.boolean(),
  filled_qty: z.number(),
  filled_notional: z.number(),
});
export type OrderRow = z.infer<typeof orderRow>;

export interface NewOrder {
  brokerOrderId: string;
  account: Account;
  clientOrderId: string;
  recommendationId: number | null;
  ticker: string;
  side: "BUY" | "SELL";
  quantity: number;
  status: string;
  now: Date;
}

/** Inserts the order unless it is known already; idempotent (a recovered order is registered once). */
export async function registerOrder(tx: CommonQueryMethods, order: NewOrder): Promise<void> {
  const at = sql.timestamp(order.now);
  await tx.query(sql.unsafe`
    INSERT INTO dispatch_orders
      (broker_order_id, account, client_order_id, recommendation_id, ticker, side, quantity, status,
       created_at, updated_at)
    VALUES (${order.brokerOrderId}, ${order.account}, ${order.clientOrderId}, ${order.recommendationId},
            ${order.ticker}, ${order.side}, ${order.quantity}, ${order.status}, ${at}, ${at})
    ON CONFLICT (broker_order_id) DO NOTHING`);
}

/** The order's row, locked for the caller's transaction; null for an order this pipeline never placed. */
export async function lockOrder(tx: CommonQueryMethods, brokerOrderId: string): Promise<OrderRow | null> {
  return tx.maybeOne(sql.type(orderRow)`
    SELECT broker_order_id, account, client_order_id, ticker, side, quantity, status, terminal, filled_qty,
           filled_notional
    FROM dispatch_orders WHERE broker_order_id = ${brokerOrderId} FOR UPDATE`);
}

/** True when a fill with this execution id has been recorded already. */
export async function fillRecorded(tx: CommonQueryMethods, executionId: string): Promise<boolean> {
  return tx.exists(sql.unsafe`SELECT 1 FROM dispatch_fills WHERE execution_id = ${executionId}`);
}

export interface FillRow {
  brokerOrderId: string;
  executionId: string;
  account: Account;
  ticker: string;
  side: "BUY" | "SELL";
  quantity: number;
  price: number;
  fees: number;
  realisedPnl: number;
  filledAt: Date;
  source: "stream" | "rest" | "placement" | "simulator";
  now: Date;
}

/** Inserts a fill and advances its order's filled quantity and notional in one statement. */
export async function insertFill(tx: CommonQueryMethods, fill: FillRow): Promise<void> {
  await tx.query(sql.unsafe`
    WITH fill AS (
      INSERT INTO dispatch_fills
        (broker_order_id, execution_id, account, ticker, side, quantity, price, fees, realised_pnl, filled_at,
         recorded_at, source)
      VALUES (${fill.brokerOrderId}, ${fill.executionId}, ${fill.account}, ${fill.ticker}, ${fill.side},
              ${fill.quantity}, ${fill.price}, ${fill.fees}, ${fill.realisedPnl}, ${sql.timestamp(fill.filledAt)},
              ${sql.timestamp(fill.now)}, ${fill.source})
      RETURNING broker_order_id, quantity, price
    )
    UPDATE dispatch_orders o SET filled_qty = o.filled_qty + fill.quantity,
      filled_notional = o.filled_notional + fill.quantity * fill.price, updated_at = ${sql.timestamp(fill.now)}
    FROM fill WHERE o.broker_order_id = fill.broker_order_id`);
}

/** Moves the order's status; a terminal order never becomes open again. */
export async function setOrderStatus(
  tx: CommonQueryMethods,
  brokerOrderId: string,
  status: string,
  terminal: boolean,
  now: Date,
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE dispatch_orders SET status = ${status}, terminal = ${terminal}, updated_at = ${sql.timestamp(now)}
    WHERE broker_order_id = ${brokerOrderId} AND NOT terminal`);
}

/** Which of `ids` this pipeline has registered (whatever their state). */
export async function registeredOrderIds(
  tx: CommonQueryMethods,
  ids: readonly string[],
): Promise<readonly string[]> {
  if (ids.length === 0) return [];
  return tx.anyFirst(sql.type(z.object({ broker_order_id: z.string() }))`
    SELECT broker_order_id FROM dispatch_orders WHERE broker_order_id = ANY(${sql.array(ids, "text")})`);
}

/** The broker order ids this pipeline still follows (not yet terminal) for an account. */
export async function openOrderIds(tx: CommonQueryMethods, account: Account): Promise<readonly string[]> {
  return tx.anyFirst(sql.type(z.object({ broker_order_id: z.string() }))`
    SELECT broker_order_id FROM dispatch_orders WHERE account = ${account} AND NOT terminal
    ORDER BY created_at`);
}
