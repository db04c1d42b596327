import type { Account } from "../portfolio.ts";

/**
 * The executor side of the dispatcher: what an execution produced, and the broker port the
 * broker executor calls. Adapters (alpaca.ts; the tests' fake server speaks the same HTTP)
 * implement the port; the core (dispatch-one.ts, broker.ts) depends only on this file.
 */

/** What an executor did, recorded as the recommendation's dispatch_executions row. */
export interface ExecutionResult {
  executor: "dry-run" | "alpaca-paper";
  account: Account;
  quantity: number;
  price: number;
  fees: number;
  realisedPnl: number;
  brokerOrderId: string | null;
  details: Record<string, unknown>;
}

/** An order as the broker reports it (Alpaca's field names: the only broker so far). */
export interface BrokerOrder {
  id: string;
  client_order_id: string;
  status: string;
  symbol: string;
  side: string;
  qty?: string | null | undefined;
  filled_qty?: string | null | undefined;
  filled_avg_price?: string | null | undefined;
  /** A bracket order's exit legs (Alpaca: the take-profit limit and the stop-loss stop order). */
  legs?: readonly BrokerOrderLeg[] | null | undefined;
}

/** One leg of a bracket order as the broker reports it. */
export interface BrokerOrderLeg {
  id: string;
  client_order_id: string;
  status: string;
  symbol: string;
  side: string;
  /** "limit" for the take-profit, "stop" (or "stop_limit") for the stop-loss. */
  type?: string | null | undefined;
  qty?: string | null | undefined;
}

/** A position as the broker reports it (Alpaca's field names; quantities are decimal strings). */
export interface BrokerPosition {
  symbol: string;
  qty: string;
  avg_entry_price: string;
}

export interface BrokerAccount {
  cash: string;
  equity?: string | null | undefined;
}

export interface OrderRequest {
  clientOrderId: string;
  symbol: string;
  side: "BUY" | "SELL";
  /** Shares; fractional shares are allowed for market day orders (a bracket needs whole shares). */
  quantity: number;
  /** A BUY's exits as a bracket (issue 15): the broker holds the stop-loss and take-profit legs. */
  bracket?: { takeProfitPrice: number; stopPrice: number } | undefined;
}

/** The broker port the executor uses. */
export interface Broker {
  readonly kind: "alpaca-paper";
  /**
   * Places a market day order.
   * @throws DuplicateClientOrderError when an order with this client_order_id exists already.
   * @throws BrokerError on any other refusal, timeout or network failure.
   */
  placeOrder(order: OrderRequest): Promise<BrokerOrder>;
  /**
   * The order placed under `clientOrderId`, or null when the broker has none.
   * @throws BrokerError on refusal, timeout or network failure.
   */
  getOrderByClientOrderId(clientOrderId: string): Promise<BrokerOrder | null>;
  /**
   * The order with the broker's id, or null when the broker has none.
   * @throws BrokerError on refusal, timeout or network failure.
   */
  getOrder(brokerOrderId: string): Promise<BrokerOrder | null>;
  /**
   * Every order the broker holds open (Alpaca: GET /v2/orders?status=open).
   * @throws BrokerError on refusal, timeout or network failure.
   */
  listOpenOrders(): Promise<BrokerOrder[]>;
  /**
   * Every position the broker holds (Alpaca: GET /v2/positions).
   * @throws BrokerError on refusal, timeout or network failure.
   */
  listPositions(): Promise<BrokerPosition[]>;
  /**
   * The account's cash and equity (Alpaca: GET /v2/account).
   * @throws BrokerError on refusal, timeout or network failure.
   */
  getAccount(): Promise<BrokerAccount>;
  /**
   * Cancels an open order (Alpaca: DELETE /v2/orders/{id}); true when canceled, false when the
   * broker says it is gone or no longer cancelable (filled, canceled already).
   * @throws BrokerError on any other refusal, timeout or network failure.
   */
  cancelOrder(brokerOrderId: string): Promise<boolean>;
  /** Where the broker's order-update stream is, and its first (authentication) message. */
  readonly tradeStream: { url: string; authMessage(): string };
}

export class BrokerError extends Error {
  override readonly name: string = "BrokerError";
  /** The HTTP status when the broker answered; undefined for network failures and timeouts. */
  readonly status: number | undefined;
  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
  }
}

/** The broker already has an order under this client_order_id (Alpaca: 422 "must be unique"). */
export class DuplicateClientOrderError extends BrokerError {
  override readonly name = "DuplicateClientOrderError";
}

/**
 * A 4xx other than timeout / rate limit: the broker refused, so no order exists. Anything else
 * (5xx, timeout, dropped connection) leaves the order's existence unknown.
 */
export function isDefinitiveRefusal(error: unknown): boolean {
  return (
    error instanceof BrokerError &&
    error.status !== undefined &&
    error.status >= 400 &&
    error.status < 500 &&
    error.status !== 408 &&
    error.status !== 429
  );
}
