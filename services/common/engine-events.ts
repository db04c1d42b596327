import * as z from "zod";

/**
 * The payload sortation sends the engine's Lambda on AWS (InvocationType Event) after it commits a
 * batch: what `CLASSIFIED_EVENTS_CHANNEL` carries locally, as JSON. Named once for both sides, as
 * the channel is: a stage never imports another stage (docs/dispatch-engine.md, "On AWS").
 *
 * `tickers` are the distinct tickers classified since the last invocation; an empty list means
 * "every ticker with news", exactly like the channel's empty payload, and is what the sender sends
 * once more than ENGINE_EVENT_MAX_TICKERS are pending (one evaluation of everything is cheaper
 * than a long ANY(...) list, the engine's own bound for its local loop).
 */

/** A ticker as the engine matches it: upper case, digits, dot or dash (BRK.B), at most 15 characters. */
export const TICKER_PATTERN = /^[A-Z][A-Z0-9.-]{0,14}$/;

/** Past this many tickers one evaluation takes every ticker (the payload then sends none). */
export const ENGINE_EVENT_MAX_TICKERS = 500;

export const classifiedEventSchema = z.strictObject({
  reason: z.literal("classified"),
  tickers: z
    .array(z.string().regex(TICKER_PATTERN, "is not a ticker (upper case, digits, . or -, ≤ 15 chars)"))
    .max(ENGINE_EVENT_MAX_TICKERS),
});

export type ClassifiedEvent = z.infer<typeof classifiedEventSchema>;

/** The payload for a set of tickers: sorted, or none (every ticker) past the bound. */
export function classifiedEvent(tickers: Iterable<string>): ClassifiedEvent {
  const sorted = [...new Set(tickers)].sort();
  return { reason: "classified", tickers: sorted.length > ENGINE_EVENT_MAX_TICKERS ? [] : sorted };
}

/** An invocation payload that claims to be a classified event and is not one (a sender's bug). */
export class EngineEventError extends Error {
  override readonly name = "EngineEventError";
  constructor(readonly issues: readonly string[]) {
    super(`not a classified-event payload ({reason: "classified", tickers: string[]}): ${issues.join("; ")}`);
  }
}

/**
 * What an invocation of the engine's function asks for: the sweep (EventBridge Scheduler's tick,
 * or any event that is not an object naming `reason` or `tickers`) or the evaluation of the
 * classified tickers.
 * @throws EngineEventError when the event names `reason` or `tickers` but is not a valid payload.
 */
export function parseEngineInvocation(
  event: unknown,
): { kind: "sweep" } | { kind: "classified"; event: ClassifiedEvent } {
  const claims =
    typeof event === "object" &&
    event !== null &&
    !Array.isArray(event) &&
    ("reason" in event || "tickers" in event);
  if (!claims) return { kind: "sweep" };
  const parsed = classifiedEventSchema.safeParse(event);
  if (!parsed.success) {
    throw new EngineEventError(
      parsed.error.issues.map((issue) => `${issue.path.join(".") || "(payload)"}: ${issue.message}`),
    );
  }
  return { kind: "classified", event: parsed.data };
}
