import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";

/**
 * Orders as operators read them (`opsctl orders`, the ops-api `orders.list`): every order the
 * dispatcher placed or simulated (dispatch_orders, sql/0100), followed to its terminal state by
 * its fills. The filled quantity and average price are the fills' (dispatch_fills), not the
 * order's request.
 */

export interface OrderLine {
  brokerOrderId: string;
  clientOrderId: string;
  account: string;
  recommendationId: number | null;
  ticker: string;
  side: "BUY" | "SELL";
  quantity: number;
  /** The broker's status as last seen (new, accepted, partially_filled, filled, canceled, ...). */
  status: string;
  terminal: boolean;
  filledQty: number;
  /** Null before the first fill. */
  avgFillPrice: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface OrderList {
  orders: OrderLine[];
  /** How many match in all (the list may be cut at `limit`). */
  total: number;
}

export interface ListOrdersQuery {
  /** Only orders not yet terminal (still followed by the dispatcher). */
  open?: boolean | undefined;
  /** Newest first. */
  limit: number;
}

const orderRow = z.object({
  broker_order_id: z.string(),
  client_order_id: z.string(),
  account: z.string(),
  recommendation_id: z.number().nullable(),
  ticker: z.string(),
  side: z.enum(["BUY", "SELL"]),
  quantity: z.number(),
  status: z.string(),
  terminal: z.boolean(),
  filled_qty: z.number(),
  filled_notional: z.number(),
  created_at: z.number(),
  updated_at: z.number(),
});

/**
 * Lists orders, newest first; `open` uses the partial index on non-terminal orders.
 * @throws slonik errors when the database fails.
 */
export async function listOrders(db: CommonQueryMethods, query: ListOrdersQuery): Promise<OrderList> {
  const where = query.open ? sql.fragment`NOT terminal` : sql.fragment`true`;
  const [rows, total] = await Promise.all([
    db.any(sql.type(orderRow)`
      SELECT broker_order_id, client_order_id, account, recommendation_id, ticker, side, quantity, status,
             terminal, filled_qty, filled_notional, created_at, updated_at
      FROM dispatch_orders WHERE ${where}
      ORDER BY created_at DESC, broker_order_id DESC LIMIT ${query.limit}`),
    db.oneFirst(sql.type(z.object({ total: z.number() }))`
      SELECT count(*) AS total FROM dispatch_orders WHERE ${where}`),
  ]);
  return {
    orders: rows.map((row) => ({
      brokerOrderId: row.broker_order_id,
      clientOrderId: row.client_order_id,
      account: row.account,
      recommendationId: row.recommendation_id,
      ticker: row.ticker,
      side: row.side,
      quantity: row.quantity,
      status: row.status,
      terminal: row.terminal,
      filledQty: row.filled_qty,
      avgFillPrice: row.filled_qty > 0 ? row.filled_notional / row.filled_qty : null,
      createdAt: new Date(row.created_at).toISOString(),
      updatedAt: new Date(row.updated_at).toISOString(),
    })),
    total,
  };
}
