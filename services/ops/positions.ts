import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { openPositionExits } from "../dispatcher/exits.ts";

/**
 * Open positions as operators read them (`opsctl positions`, the ops-api `positions.list`): each
 * position marked at its ticker's newest trusted close at or before `now` (lane_telemetry holds
 * only bars the trust checks accepted), with its unrealised P&L, and totals per account.
 */

export const POSITION_ACCOUNTS = ["dry-run", "alpaca-paper"] as const;
export type PositionAccount = (typeof POSITION_ACCOUNTS)[number];

/** A position's exits (stop-loss, take-profit, maximum holding time), set at entry. */
export interface PositionExits {
  stopLoss: number | null;
  takeProfit: number | null;
  /** When the maximum holding time runs out (ISO 8601). */
  expiresAt: string | null;
}

/**
 * Reads the exits of the given positions, keyed `${account}:${ticker}`: the dispatcher's
 * `dispatch_position_exits` rows still open or triggered (services/dispatcher/exits.ts owns the
 * table). A position without a live row (entered before exits existed) has none: "-".
 */
export type PositionExitsReader = (
  db: CommonQueryMethods,
  positions: readonly { account: PositionAccount; ticker: string }[],
) => Promise<ReadonlyMap<string, PositionExits>>;
export const readPositionExits: PositionExitsReader = async (db, positions) => {
  const wanted = new Set(positions.map((p) => `${p.account}:${p.ticker}`));
  const exits = await openPositionExits(db);
  return new Map(
    exits
      .filter((exit) => wanted.has(`${exit.account}:${exit.ticker}`))
      .map((exit) => [
        `${exit.account}:${exit.ticker}`,
        { stopLoss: exit.stopPrice, takeProfit: exit.takeProfitPrice, expiresAt: exit.expiresAt },
      ]),
  );
};

export interface PositionLine {
  account: PositionAccount;
  ticker: string;
  quantity: number;
  avgPrice: number;
  /** Newest trusted close at or before `asOf`; null without any candle (then valued at cost). */
  lastPrice: number | null;
  lastPriceAt: string | null;
  costBasis: number;
  marketValue: number;
  unrealisedPnl: number;
  /** unrealisedPnl / costBasis × 100. */
  unrealisedPct: number;
  openedAt: string;
  /** Null when the position has no live exits row (entered before exits existed). */
  exits: PositionExits | null;
}

export interface PositionTotals {
  account: PositionAccount;
  positions: number;
  costBasis: number;
  marketValue: number;
  unrealisedPnl: number;
  unrealisedPct: number;
}

export interface PositionsReport {
  asOf: string;
  positions: PositionLine[];
  /** One per account that holds anything (in POSITION_ACCOUNTS order). */
  totals: PositionTotals[];
}

const positionRow = z.object({
  account: z.enum(POSITION_ACCOUNTS),
  ticker: z.string(),
  quantity: z.number(),
  avg_cost: z.number(),
  opened_at: z.number(),
  last_price: z.number().nullable(),
  last_price_at: z.number().nullable(),
});

const pct = (pnl: number, basis: number) => (basis > 0 ? (pnl / basis) * 100 : 0);

/**
 * Reads the open positions of one account (or all), marked at `now`. One statement: a lateral
 * probe of lane_telemetry's (ticker, ts) key per position.
 * @throws slonik errors when the database fails.
 */
export async function readPositions(
  db: CommonQueryMethods,
  options: { now: Date; account?: PositionAccount | undefined; readExits?: PositionExitsReader | null },
): Promise<PositionsReport> {
  const rows = await db.any(sql.type(positionRow)`
    SELECT p.account, p.ticker, p.quantity, p.avg_cost, p.opened_at, c.close AS last_price, c.ts AS last_price_at
    FROM dispatch_positions p
    LEFT JOIN LATERAL (
      SELECT close, ts FROM lane_telemetry t
      WHERE t.ticker = p.ticker AND t.ts <= ${sql.timestamp(options.now)}
      ORDER BY t.ts DESC LIMIT 1
    ) c ON true
    WHERE p.account = ANY(${sql.array(options.account ? [options.account] : [...POSITION_ACCOUNTS], "text")})
    ORDER BY array_position(${sql.array([...POSITION_ACCOUNTS], "text")}, p.account), p.ticker`);
  const reader = options.readExits === undefined ? readPositionExits : options.readExits;
  const exits = reader && rows.length > 0 ? await reader(db, rows) : new Map<string, PositionExits>();
  const positions = rows.map((row): PositionLine => {
    const mark = row.last_price ?? row.avg_cost;
    const costBasis = row.quantity * row.avg_cost;
    const unrealisedPnl = row.quantity * (mark - row.avg_cost);
    return {
      account: row.account,
      ticker: row.ticker,
      quantity: row.quantity,
      avgPrice: row.avg_cost,
      lastPrice: row.last_price,
      lastPriceAt: row.last_price_at === null ? null : new Date(row.last_price_at).toISOString(),
      costBasis,
      marketValue: row.quantity * mark,
      unrealisedPnl,
      unrealisedPct: pct(unrealisedPnl, costBasis),
      openedAt: new Date(row.opened_at).toISOString(),
      exits: exits.get(`${row.account}:${row.ticker}`) ?? null,
    };
  });
  const totals = POSITION_ACCOUNTS.flatMap((account): PositionTotals[] => {
    const held = positions.filter((p) => p.account === account);
    if (held.length === 0) return [];
    const costBasis = held.reduce((sum, p) => sum + p.costBasis, 0);
    const unrealisedPnl = held.reduce((sum, p) => sum + p.unrealisedPnl, 0);
    return [
      {
        account,
        positions: held.length,
        costBasis,
        marketValue: held.reduce((sum, p) => sum + p.marketValue, 0),
        unrealisedPnl,
        unrealisedPct: pct(unrealisedPnl, costBasis),
      },
    ];
  });
  return { asOf: options.now.toISOString(), positions, totals };
}
