import * as z from "zod";
import { alpacaOrder } from "./executors/alpaca.ts";
import { type OrderUpdate, updateFromRestOrder } from "./fills.ts";

/**
 * Alpaca's trade_updates protocol, as this follower reads it: the authorization and listening
 * acknowledgements, and one message per order event (new, fill, partial_fill, canceled,
 * expired, rejected, replaced, ...) carrying the order object, and for a fill its execution id,
 * price, quantity and timestamp.
 */

export const tradeUpdate = z.object({
  event: z.string(),
  order: alpacaOrder,
  execution_id: z.string().optional(),
  price: z.string().nullable().optional(),
  qty: z.string().nullable().optional(),
  timestamp: z.string().optional(),
});
const streamMessage = z.discriminatedUnion("stream", [
  z.object({ stream: z.literal("authorization"), data: z.object({ status: z.string() }) }),
  z.object({ stream: z.literal("listening"), data: z.object({ streams: z.array(z.string()) }) }),
  z.object({ stream: z.literal("trade_updates"), data: tradeUpdate }),
]);
export type StreamMessage = z.infer<typeof streamMessage>;

/** Parses one frame; a string saying what is wrong when it is not a message this follower reads. */
export function parseStreamMessage(raw: string): StreamMessage | string {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return `malformed JSON: ${raw.slice(0, 120)}`;
  }
  const parsed = streamMessage.safeParse(json);
  return parsed.success ? parsed.data : `unexpected message shape: ${raw.slice(0, 200)}`;
}

const KNOWN_EVENTS = new Set([
  "new",
  "fill",
  "partial_fill",
  "canceled",
  "expired",
  "done_for_day",
  "replaced",
  "rejected",
  "pending_new",
  "stopped",
  "pending_cancel",
  "pending_replace",
  "calculated",
  "suspended",
  "order_replace_rejected",
  "order_cancel_rejected",
]);

function num(value: string | null | undefined): number | null {
  if (value === null || value === undefined || value === "") return null;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : null;
}

/** The update a trade_updates message stands for; null for an event type this follower does not know. */
export function updateFromStream(data: z.infer<typeof tradeUpdate>, now: Date): OrderUpdate | null {
  if (!KNOWN_EVENTS.has(data.event)) return null;
  const at = data.timestamp && !Number.isNaN(Date.parse(data.timestamp)) ? new Date(data.timestamp) : now;
  const base = updateFromRestOrder(data.order, "rest", at);
  const quantity = num(data.qty);
  const price = num(data.price);
  const isFill = data.event === "fill" || data.event === "partial_fill";
  return {
    ...base,
    source: "stream",
    fill:
      isFill && data.execution_id && quantity !== null && price !== null
        ? { executionId: data.execution_id, quantity, price, fees: 0 }
        : null,
  };
}
