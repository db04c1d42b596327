import type { Params } from "../common/params/definitions.ts";
import type { GateDecision, GateName, PlannedOrder } from "./gates.ts";

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Gates on the order itself (invariant 10: the dispatcher re-checks price and quantity before
 * anything leaves), whatever the data behind it said:
 * - `order-quantity`: a positive number of shares (a zero-share order is rejected here, never
 *   sent to the database's check or counted as an execution error), and for a BUY at most
 *   `max-order-shares`;
 * - `min-price`: a BUY's reference price at least `min-order-price-usd`;
 * - `reference-band`: the reference price within `reference-band-pct` of the median of the last
 *   `reference-closes` trusted closes (both sides: a SELL recorded at an absurd price is as
 *   wrong as a BUY);
 * - `sane-notional`: a BUY's notional recomputed at that median (not at the reference price,
 *   which is what a bad price distorts: 515,789,473,684 shares at $1.94e-9 "cost" $1,000) within
 *   `max-notional-per-trade`.
 * Exits are never trapped by the BUY-only limits: selling a held position only reduces risk.
 */
export function evaluateOrderGates(
  order: PlannedOrder,
  recentCloses: readonly number[],
  params: Pick<
    Params,
    | "max-order-shares"
    | "min-order-price-usd"
    | "reference-band-pct"
    | "reference-closes"
    | "max-notional-per-trade"
  >,
): GateDecision[] {
  const decisions: GateDecision[] = [];
  const decide = (gate: GateName, passed: boolean, values: Record<string, unknown>, reason: string) =>
    decisions.push(passed ? { gate, passed, values } : { gate, passed, reason, values });

  const maxShares = params["max-order-shares"];
  const positive = Number.isFinite(order.quantity) && order.quantity > 0;
  decide(
    "order-quantity",
    positive && (order.side === "SELL" || order.quantity <= maxShares),
    { side: order.side, quantity: order.quantity, maxOrderShares: maxShares },
    positive ? `${order.quantity} shares exceeds ${maxShares}` : `order of ${order.quantity} shares`,
  );

  const minPrice = params["min-order-price-usd"];
  decide(
    "min-price",
    order.side === "SELL" || order.referencePrice >= minPrice,
    { side: order.side, referencePrice: order.referencePrice, minOrderPriceUsd: minPrice },
    `reference price ${order.referencePrice} below ${minPrice}`,
  );

  const closes = recentCloses.slice(0, params["reference-closes"]);
  const sane = median(closes);
  const bandPct = params["reference-band-pct"];
  const deviationPct = sane === null ? null : Math.abs(order.referencePrice / sane - 1) * 100;
  decide(
    "reference-band",
    deviationPct !== null && deviationPct <= bandPct,
    {
      referencePrice: order.referencePrice,
      medianClose: sane,
      closes: closes.length,
      referenceCloses: params["reference-closes"],
      deviationPct,
      referenceBandPct: bandPct,
    },
    deviationPct === null
      ? "no recent trusted close to check the reference price against"
      : `reference price ${order.referencePrice} is ${deviationPct.toFixed(1)}% from the median close ${sane}, limit ${bandPct}%`,
  );

  const maxPerTrade = params["max-notional-per-trade"];
  const recomputed = sane === null ? null : order.quantity * sane;
  decide(
    "sane-notional",
    order.side === "SELL" || (recomputed !== null && recomputed <= maxPerTrade),
    {
      side: order.side,
      quantity: order.quantity,
      medianClose: sane,
      recomputedNotional: recomputed,
      maxNotionalPerTrade: maxPerTrade,
    },
    recomputed === null
      ? "no recent trusted close to recompute the notional at"
      : `notional at the median close is ${recomputed.toFixed(2)}, limit ${maxPerTrade}`,
  );
  return decisions;
}
