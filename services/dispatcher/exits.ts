import type { CommonQueryMethods } from "../common/db.ts";
import { type ExitLevels, type ExitParams, exitLevels, exitParams, exitParamsFrom } from "../common/exits.ts";
import type { Logger } from "../common/logger.ts";
import type { Params } from "../common/params/definitions.ts";
import type { Broker, BrokerOrder } from "./executors/types.ts";
import { insertPositionExit, markBracketLeg, openLegs } from "./exit-queries.ts";
import { registerOrder } from "./fill-queries.ts";
import type { Account } from "./portfolio.ts";

/**
 * Exits (issue 15, docs/dispatcher.md "Exits"). Every position gets a stop-loss, a take-profit
 * and a maximum holding time at entry, from its entry recommendation's stored exit parameters.
 * With a broker the stop and take-profit are a bracket order's legs, held by the broker; in
 * dry-run (and for a broker entry too small for a bracket) the dispatcher sweeps the candles
 * since entry each pass and queues an exit order when one triggers. Exit orders (a trigger, the
 * maximum holding time, an operator's `opsctl close`) are the dispatcher's own rows
 * (dispatch_exits), decided before recommendations, at most once, through the gates' reducing
 * path, and executed by the same simulator and broker code as recommendations.
 */

export { openPositionExits, type PositionExit } from "./exit-queries.ts";

/** The exits a recommendation's entry gets: its own stored copy, else the parameters in effect now. */
export function entryExits(rec: { exits: unknown }, params: Params): ExitParams {
  const stored = exitParams.safeParse(rec.exits);
  return stored.success ? stored.data : exitParamsFrom(params);
}

/** The bracket for a broker BUY: both legs set and whole shares (Alpaca's bracket needs both). */
export function bracketFor(
  levels: ExitLevels,
  quantity: number,
): { takeProfitPrice: number; stopPrice: number } | undefined {
  if (levels.stopPrice === null || levels.takeProfitPrice === null) return undefined;
  if (!Number.isInteger(quantity) || quantity < 1) return undefined;
  return { takeProfitPrice: levels.takeProfitPrice, stopPrice: levels.stopPrice };
}

/**
 * A broker BUY's quantity: whole shares (rounded down) when the exits make it a bracket, so the
 * broker can hold its legs; unchanged otherwise, and when less than one share (then a simple
 * order whose exits the dispatcher watches itself).
 */
export function entryShares(exits: ExitParams, quantity: number): number {
  const bracket = exits.stopLossPct > 0 && exits.takeProfitPct > 0;
  return bracket && quantity >= 1 ? Math.floor(quantity) : quantity;
}

/**
 * Gives a position its exits after its entry filled (or was placed at the broker), in the
 * caller's transaction: a dispatch_position_exits row, and a bracket's legs registered as
 * orders so the stream and REST follower count their fills through fills.ts like any other.
 */
export async function recordEntryExits(
  tx: CommonQueryMethods,
  entry: {
    account: Account;
    ticker: string;
    recommendationId: number;
    entryPrice: number;
    exits: ExitParams;
    now: Date;
    brokerOrder?: BrokerOrder;
    quantity: number;
  },
): Promise<void> {
  const legs = { stopOrderId: null as string | null, takeProfitOrderId: null as string | null };
  for (const leg of entry.brokerOrder?.legs ?? []) {
    const kind = leg.type === "limit" ? "take-profit" : "stop-loss";
    if (kind === "take-profit") legs.takeProfitOrderId = leg.id;
    else legs.stopOrderId = leg.id;
    await registerOrder(tx, {
      brokerOrderId: leg.id,
      account: entry.account,
      clientOrderId: leg.client_order_id,
      recommendationId: null,
      ticker: entry.ticker,
      side: "SELL",
      quantity: Number(leg.qty ?? entry.quantity) || entry.quantity,
      status: leg.status,
      now: entry.now,
    });
    await markBracketLeg(tx, { legId: leg.id, parentId: entry.brokerOrder?.id ?? null, kind });
  }
  await insertPositionExit(tx, {
    account: entry.account,
    ticker: entry.ticker,
    entryRecommendationId: entry.recommendationId,
    entryPrice: entry.entryPrice,
    levels: exitLevels(entry.exits, entry.entryPrice, entry.now.getTime()),
    exits: entry.exits,
    legs,
    now: entry.now,
  });
}

/**
 * A bracket leg could not be canceled (the broker says it is gone or no longer cancelable: it
 * filled, or is filling). The position may already be sold; the SELL sized from the database
 * must not leave. The decision is rolled back and taken again once the leg's fill is recorded
 * (the stream, its early REST pass or the poll), when the holding gate sees the position as it is.
 */
export class LegNotCancelableError extends Error {
  override readonly name = "LegNotCancelableError";
  constructor(readonly legs: readonly string[]) {
    super(
      `bracket leg(s) ${legs.join(", ")} could not be canceled (filled or gone): the position may have changed; no SELL sent, decided again once the fill is recorded`,
    );
  }
}

/**
 * Cancels a position's open bracket legs at the broker before any other SELL of it (the broker
 * holds the shares for them: a SELL beside them is refused). Never under the risk lock.
 * @throws LegNotCancelableError when a leg is no longer cancelable (the SELL must not be sent).
 * @throws BrokerError when the broker cannot be reached.
 */
export async function cancelOpenLegs(
  conn: CommonQueryMethods,
  broker: Broker,
  position: { account: Account; ticker: string },
  logger: Logger,
): Promise<void> {
  const gone: string[] = [];
  for (const leg of await openLegs(conn, position)) {
    const canceled = await broker.cancelOrder(leg.broker_order_id);
    logger.info(
      { brokerOrderId: leg.broker_order_id, canceled },
      "bracket leg canceled before selling the position",
    );
    if (canceled) continue;
    // Not cancelable: canceled already (by an earlier attempt whose decision rolled back, before
    // the follower recorded it) is fine; anything that filled, even in part, is not.
    const seen = await broker.getOrderByClientOrderId(leg.client_order_id);
    const unfilledEnd =
      seen !== null &&
      ["canceled", "expired", "rejected"].includes(seen.status) &&
      Number(seen.filled_qty ?? 0) === 0;
    if (!unfilledEnd) gone.push(leg.broker_order_id);
  }
  if (gone.length > 0) throw new LegNotCancelableError(gone);
}
