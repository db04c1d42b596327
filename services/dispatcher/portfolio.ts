import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";

/** "shadow": the broker's orders simulated beside it (shadow.ts, sql/0130_dispatch_shadow_account.sql). */
export type Account = "dry-run" | "alpaca-paper" | "shadow";

/** A BUY would take cash below zero. An execution error: it counts towards the kill switch. */
export class InsufficientCashError extends Error {
  override readonly name = "InsufficientCashError";
  constructor(
    readonly needed: number,
    readonly available: number,
  ) {
    super(`insufficient paper cash: order needs ${needed.toFixed(2)}, account has ${available.toFixed(2)}`);
  }
}

export interface Fill {
  ticker: string;
  side: "BUY" | "SELL";
  quantity: number;
  price: number;
  fees: number;
}

/** The account and position as read under the dispatcher's risk lock, before this fill. */
export interface AccountState {
  /** Null when the account has no row yet: it starts with `startingCashUsd`. */
  cash: number | null;
  held: { quantity: number; avgCost: number } | null;
}

/**
 * Moves an account by one fill, inside the caller's transaction: cash, fees, the position
 * (average cost on buys; realised P&L on sells) and the account's realised P&L. Realised P&L
 * includes every fee as it is paid, so equity − starting cash = realised + unrealised.
 * `state` must have been read under the dispatcher's risk lock (every writer holds it), which
 * is what lets this take two statements instead of a read-lock-write round trip per table.
 * Returns the P&L this fill realised.
 * @throws InsufficientCashError when `enforceCash` and a BUY costs more than the account's cash.
 * @throws Error when a SELL exceeds the held quantity (the gates prevent it; a bug otherwise).
 */
export async function applyFill(
  tx: CommonQueryMethods,
  account: Account,
  fill: Fill,
  state: AccountState,
  options: {
    now: Date;
    startingCashUsd: number;
    /** The simulator's account must stay funded; a broker's account is the broker's to police. */
    enforceCash: boolean;
  },
): Promise<number> {
  const now = sql.timestamp(options.now);
  const gross = fill.quantity * fill.price;
  const held = state.held;
  let realised = -fill.fees;
  if (fill.side === "BUY") {
    const needed = gross + fill.fees;
    const available = state.cash ?? options.startingCashUsd;
    if (options.enforceCash && needed > available) throw new InsufficientCashError(needed, available);
  } else {
    if (!held || held.quantity < fill.quantity - 1e-9) {
      throw new Error(`sell of ${fill.quantity} ${fill.ticker} exceeds the held ${held?.quantity ?? 0}`);
    }
    realised += (fill.price - held.avgCost) * fill.quantity;
  }
  const cashDelta = fill.side === "BUY" ? -(gross + fill.fees) : gross - fill.fees;
  // The account first: positions reference it.
  await tx.query(sql.unsafe`
    INSERT INTO dispatch_accounts (account, starting_cash, cash, realised_pnl, fees_paid, created_at, updated_at)
    VALUES (${account}, ${options.startingCashUsd}, ${options.startingCashUsd + cashDelta}, ${realised},
            ${fill.fees}, ${now}, ${now})
    ON CONFLICT (account) DO UPDATE SET
      cash = dispatch_accounts.cash + ${cashDelta},
      fees_paid = dispatch_accounts.fees_paid + ${fill.fees},
      realised_pnl = dispatch_accounts.realised_pnl + ${realised},
      updated_at = EXCLUDED.updated_at`);
  if (fill.side === "BUY") {
    await tx.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES (${account}, ${fill.ticker}, ${fill.quantity}, ${fill.price}, ${now}, ${now})
      ON CONFLICT (account, ticker) DO UPDATE SET
        avg_cost = (dispatch_positions.quantity * dispatch_positions.avg_cost + EXCLUDED.quantity * EXCLUDED.avg_cost)
                   / (dispatch_positions.quantity + EXCLUDED.quantity),
        quantity = dispatch_positions.quantity + EXCLUDED.quantity,
        updated_at = EXCLUDED.updated_at`);
  } else if (held && held.quantity - fill.quantity <= 1e-9) {
    await tx.query(
      sql.unsafe`DELETE FROM dispatch_positions WHERE account = ${account} AND ticker = ${fill.ticker}`,
    );
  } else if (held) {
    await tx.query(sql.unsafe`
      UPDATE dispatch_positions SET quantity = ${held.quantity - fill.quantity}, updated_at = ${now}
      WHERE account = ${account} AND ticker = ${fill.ticker}`);
  }
  return realised;
}

export interface PortfolioPosition {
  ticker: string;
  quantity: number;
  avgCost: number;
  /** Newest close at or before `now`; null without any candle (then valued at cost). */
  lastPrice: number | null;
  lastPriceAt: Date | null;
  marketValue: number;
  unrealisedPnl: number;
}

export interface PaperPortfolio {
  account: Account;
  asOf: Date;
  /** False until the first fill creates the account; the figures are then the starting ones. */
  exists: boolean;
  startingCash: number | null;
  cash: number;
  feesPaid: number;
  realisedPnl: number;
  unrealisedPnl: number;
  marketValue: number;
  /** cash + market value. */
  equity: number;
  positions: PortfolioPosition[];
}

const accountRow = z.object({
  starting_cash: z.number(),
  cash: z.number(),
  realised_pnl: z.number(),
  fees_paid: z.number(),
});
const valuedPositionRow = z.object({
  ticker: z.string(),
  quantity: z.number(),
  avg_cost: z.number(),
  last_price: z.number().nullable(),
  last_price_at: z.number().nullable(),
});

/**
 * The paper portfolio as of `now`: cash, positions marked at the newest close at or before
 * `now` (lane_telemetry), realised and unrealised P&L. What `opsctl status` shows.
 */
export async function paperPortfolio(
  db: CommonQueryMethods,
  now: Date,
  account: Account = "dry-run",
): Promise<PaperPortfolio> {
  const acct = await db.maybeOne(sql.type(accountRow)`
    SELECT starting_cash, cash, realised_pnl, fees_paid FROM dispatch_accounts WHERE account = ${account}`);
  const rows = await db.any(sql.type(valuedPositionRow)`
    SELECT p.ticker, p.quantity, p.avg_cost, c.close AS last_price, c.ts AS last_price_at
    FROM dispatch_positions p
    LEFT JOIN LATERAL (
      SELECT close, ts FROM lane_telemetry t
      WHERE t.ticker = p.ticker AND t.ts <= ${sql.timestamp(now)}
      ORDER BY t.ts DESC LIMIT 1
    ) c ON true
    WHERE p.account = ${account}
    ORDER BY p.ticker`);
  const positions = rows.map((row): PortfolioPosition => {
    const mark = row.last_price ?? row.avg_cost;
    return {
      ticker: row.ticker,
      quantity: row.quantity,
      avgCost: row.avg_cost,
      lastPrice: row.last_price,
      lastPriceAt: row.last_price_at === null ? null : new Date(row.last_price_at),
      marketValue: row.quantity * mark,
      unrealisedPnl: row.quantity * (mark - row.avg_cost),
    };
  });
  const marketValue = positions.reduce((sum, p) => sum + p.marketValue, 0);
  const cash = acct?.cash ?? 0;
  return {
    account,
    asOf: now,
    exists: acct !== null,
    startingCash: acct?.starting_cash ?? null,
    cash,
    feesPaid: acct?.fees_paid ?? 0,
    realisedPnl: acct?.realised_pnl ?? 0,
    unrealisedPnl: positions.reduce((sum, p) => sum + p.unrealisedPnl, 0),
    marketValue,
    equity: cash + marketValue,
    positions,
  };
}
