import * as z from "zod";
import { alpacaSymbol } from "../../common/symbols.ts";
import { type Broker, BrokerError, DuplicateClientOrderError } from "./types.ts";

/**
 * Alpaca's trading API (paper: https://paper-api.alpaca.markets), the two calls the dispatcher
 * needs. The key pair travels only in request headers; no error or log line carries it.
 */

const alpacaLeg = z.object({
  id: z.string(),
  client_order_id: z.string(),
  status: z.string(),
  symbol: z.string(),
  side: z.string(),
  type: z.string().nullable().optional(),
  qty: z.string().nullable().optional(),
});
export const alpacaOrder = z.object({
  id: z.string(),
  client_order_id: z.string(),
  status: z.string(),
  symbol: z.string(),
  side: z.string(),
  qty: z.string().nullable().optional(),
  filled_qty: z.string().nullable().optional(),
  filled_avg_price: z.string().nullable().optional(),
  // A bracket order's legs (order_class "bracket"); null or absent for a simple order.
  legs: z.array(alpacaLeg).nullable().optional(),
});
export type AlpacaOrder = z.infer<typeof alpacaOrder>;
const alpacaPosition = z.object({ symbol: z.string(), qty: z.string(), avg_entry_price: z.string() });
const alpacaAccount = z.object({ cash: z.string(), equity: z.string().nullable().optional() });

// The port lives in types.ts (the adapter returns AlpacaOrder where the port says BrokerOrder,
// so a schema drifting from the port fails to compile); re-exported for the adapter's callers.
export { type Broker, BrokerError, DuplicateClientOrderError, type OrderRequest } from "./types.ts";

export interface AlpacaOptions {
  baseUrl: string;
  keyId: string;
  secretKey: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

export function alpacaBroker(options: AlpacaOptions): Broker {
  const doFetch = options.fetch ?? fetch;
  const base = options.baseUrl.replace(/\/+$/, "");
  const headers = {
    "APCA-API-KEY-ID": options.keyId,
    "APCA-API-SECRET-KEY": options.secretKey,
    accept: "application/json",
  };

  async function call(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<Response> {
    try {
      return await doFetch(`${base}${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (cause) {
      // The cause is a network or timeout error; it names the URL, never the headers.
      throw new BrokerError(`${method} ${path} failed: ${cause instanceof Error ? cause.message : cause}`, {
        cause,
      });
    }
  }

  async function parseOrder(response: Response, what: string): Promise<AlpacaOrder> {
    const parsed = alpacaOrder.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new BrokerError(`${what}: the broker's answer is not an order`);
    return parsed.data;
  }

  async function refusal(response: Response, what: string): Promise<BrokerError> {
    const text = (await response.text().catch(() => "")).slice(0, 300);
    return new BrokerError(`${what}: HTTP ${response.status} ${text}`, { status: response.status });
  }

  async function getJson(path: string, what: string): Promise<unknown | null> {
    const response = await call("GET", path);
    if (response.status === 404) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) throw await refusal(response, what);
    return response.json().catch(() => undefined);
  }

  return {
    kind: "alpaca-paper",
    tradeStream: {
      // Alpaca's trade_updates stream lives beside the REST API: wss://paper-api.alpaca.markets/stream.
      url: `${base.replace(/^http/, "ws")}/stream`,
      authMessage: () => JSON.stringify({ action: "auth", key: options.keyId, secret: options.secretKey }),
    },
    async getOrder(brokerOrderId) {
      const body = await getJson(`/v2/orders/${encodeURIComponent(brokerOrderId)}`, "GET /v2/orders/{id}");
      if (body === null) return null;
      const parsed = alpacaOrder.safeParse(body);
      if (!parsed.success) throw new BrokerError("GET /v2/orders/{id}: the broker's answer is not an order");
      return parsed.data;
    },
    async listPositions() {
      const body = await getJson("/v2/positions", "GET /v2/positions");
      const parsed = z.array(alpacaPosition).safeParse(body);
      if (!parsed.success)
        throw new BrokerError("GET /v2/positions: the broker's answer is not a list of positions");
      return parsed.data;
    },
    async getAccount() {
      const parsed = alpacaAccount.safeParse(await getJson("/v2/account", "GET /v2/account"));
      if (!parsed.success) throw new BrokerError("GET /v2/account: the broker's answer is not an account");
      return parsed.data;
    },
    async listOpenOrders() {
      const body = await getJson("/v2/orders?status=open&limit=500&nested=false", "GET /v2/orders");
      const parsed = z.array(alpacaOrder).safeParse(body);
      if (!parsed.success)
        throw new BrokerError("GET /v2/orders: the broker's answer is not a list of orders");
      return parsed.data;
    },
    async placeOrder(order) {
      const response = await call("POST", "/v2/orders", {
        symbol: alpacaSymbol(order.symbol),
        qty: String(order.quantity),
        side: order.side === "BUY" ? "buy" : "sell",
        type: "market",
        // A bracket's legs share its time in force: "gtc", so the exits outlive the session.
        time_in_force: order.bracket ? "gtc" : "day",
        client_order_id: order.clientOrderId,
        // A bracket (whole shares only): Alpaca holds both exit legs and cancels one when the other fills.
        ...(order.bracket
          ? {
              order_class: "bracket",
              take_profit: { limit_price: String(order.bracket.takeProfitPrice) },
              stop_loss: { stop_price: String(order.bracket.stopPrice) },
            }
          : {}),
      });
      if (response.status === 422) {
        const text = await response.text().catch(() => "");
        if (/client_order_id must be unique/i.test(text)) {
          throw new DuplicateClientOrderError(`order ${order.clientOrderId} exists already`, { status: 422 });
        }
        throw new BrokerError(`POST /v2/orders: HTTP 422 ${text.slice(0, 300)}`, { status: 422 });
      }
      if (!response.ok) throw await refusal(response, "POST /v2/orders");
      return parseOrder(response, "POST /v2/orders");
    },
    async cancelOrder(brokerOrderId) {
      const response = await call("DELETE", `/v2/orders/${encodeURIComponent(brokerOrderId)}`);
      // 404: no such order; 422: no longer cancelable (filled or canceled already).
      if (response.status === 404 || response.status === 422) {
        await response.body?.cancel();
        return false;
      }
      if (!response.ok) throw await refusal(response, "DELETE /v2/orders/{id}");
      await response.body?.cancel();
      return true;
    },
    async getOrderByClientOrderId(clientOrderId) {
      const path = `/v2/orders:by_client_order_id?client_order_id=${encodeURIComponent(clientOrderId)}`;
      const response = await call("GET", path);
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (!response.ok) throw await refusal(response, "GET /v2/orders:by_client_order_id");
      return parseOrder(response, "GET /v2/orders:by_client_order_id");
    },
  };
}
