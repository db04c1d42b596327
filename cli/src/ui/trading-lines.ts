import type { OrderLine, OrderList } from "../../../services/ops/orders.ts";
import type { PositionExits, PositionLine, PositionsReport } from "../../../services/ops/positions.ts";

/**
 * `opsctl positions` and `opsctl orders` as plain lines: one row per position or order, never
 * wrapped, the same on a terminal and in a pipe (grep, awk), with no Ink loaded.
 */

const signed = (n: number, digits = 2) => `${n >= 0 ? "+" : ""}${n.toFixed(digits)}`;
const minute = (iso: string) => iso.slice(0, 16).replace("T", " ");
const qty = (n: number) => String(Number(n.toFixed(6)));

export function describeExits(exits: PositionExits | null): string {
  if (exits === null) return "-";
  const parts = [
    exits.stopLoss === null ? null : `stop ${exits.stopLoss.toFixed(2)}`,
    exits.takeProfit === null ? null : `take ${exits.takeProfit.toFixed(2)}`,
    exits.expiresAt === null ? null : `until ${minute(exits.expiresAt)}`,
  ].filter((part): part is string => part !== null);
  return parts.length === 0 ? "-" : parts.join(" / ");
}

export function positionLine(p: PositionLine): string {
  const last =
    p.lastPrice === null ? "no close" : `${p.lastPrice.toFixed(2)} @${minute(p.lastPriceAt ?? "")}`;
  return [
    p.account.padEnd(12),
    p.ticker.padEnd(6),
    qty(p.quantity).padStart(12),
    p.avgPrice.toFixed(2).padStart(10),
    last.padEnd(26),
    `${signed(p.unrealisedPnl)} (${signed(p.unrealisedPct)}%)`.padEnd(22),
    minute(p.openedAt).padEnd(16),
    describeExits(p.exits),
  ].join(" ");
}

export function positionsText(report: PositionsReport): string {
  if (report.positions.length === 0) return `no open positions (as of ${report.asOf})`;
  const header = [
    "account".padEnd(12),
    "ticker".padEnd(6),
    "quantity".padStart(12),
    "avg price".padStart(10),
    "last close @time (UTC)".padEnd(26),
    "unrealised USD (%)".padEnd(22),
    "opened (UTC)".padEnd(16),
    "exits",
  ].join(" ");
  const totals = report.totals.map(
    (t) =>
      `total ${t.account}: ${t.positions} position(s), cost ${t.costBasis.toFixed(2)}, value ${t.marketValue.toFixed(2)}, unrealised ${signed(t.unrealisedPnl)} USD (${signed(t.unrealisedPct)}%)`,
  );
  return [`positions as of ${report.asOf}`, header, ...report.positions.map(positionLine), ...totals].join(
    "\n",
  );
}

export function orderLine(o: OrderLine): string {
  return [
    minute(o.createdAt).padEnd(16),
    o.account.padEnd(12),
    o.ticker.padEnd(6),
    o.side.padEnd(4),
    o.status.padEnd(17),
    `${qty(o.filledQty)}/${qty(o.quantity)}`.padStart(21),
    (o.avgFillPrice === null ? "-" : o.avgFillPrice.toFixed(4)).padStart(10),
    (o.recommendationId === null ? "-" : `#${o.recommendationId}`).padEnd(8),
    o.terminal ? "terminal" : "open    ",
    `updated ${minute(o.updatedAt)}`,
    o.brokerOrderId,
  ].join(" ");
}

export function ordersText(list: OrderList, open: boolean): string {
  const what = open ? "open orders" : "orders";
  if (list.orders.length === 0) return `${what}: none`;
  const cut = list.total > list.orders.length ? ` (showing ${list.orders.length}; --limit for more)` : "";
  const header = [
    "created (UTC)".padEnd(16),
    "account".padEnd(12),
    "ticker".padEnd(6),
    "side",
    "status".padEnd(17),
    "filled/quantity".padStart(21),
    "avg fill".padStart(10),
    "rec".padEnd(8),
    "state   ",
    "updated",
  ].join(" ");
  return [`${what}: ${list.total}${cut}`, header, ...list.orders.map(orderLine)].join("\n");
}
