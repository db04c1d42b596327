import * as z from "zod";
import { type CommonQueryMethods, type DatabasePool, sql } from "../common/db.ts";
import { OperatorError } from "../common/errors.ts";
import { insertExitOrder } from "../dispatcher/exit-queries.ts";

/**
 * `opsctl close TICKER|--all` as an operation: queues an operator exit order (dispatch_exits,
 * reason "operator") for each position asked for, recorded with who asked, when, and why. The
 * dispatcher decides it on its next pass, before any recommendation, through the gates'
 * reducing path (the kill switch and halted refuse it; reducing lets it through) and sells the
 * whole position at market (the simulator in dry-run, the broker otherwise). Nothing here moves
 * money itself.
 */

export type CloseAccount = "dry-run" | "alpaca-paper";

export interface CloseRequest {
  /** The tickers to close, or "all": every position the account holds. */
  tickers: readonly string[] | "all";
  /** The account the dispatcher trades now: dry-run while the dry-run parameter is on. */
  account: CloseAccount;
  who: string;
  reason: string | null;
  now: Date;
}

export interface CloseReport {
  account: CloseAccount;
  by: string;
  reason: string | null;
  requested: Array<{ exitId: number; ticker: string; quantity: number }>;
  /** Positions asked for that already have an exit order waiting (that one stands). */
  alreadyPending: Array<{ ticker: string; exitId: number }>;
}

const heldRow = z.object({ ticker: z.string(), quantity: z.number() });

async function held(db: CommonQueryMethods, account: CloseAccount) {
  return db.any(sql.type(heldRow)`
    SELECT ticker, quantity FROM dispatch_positions WHERE account = ${account} ORDER BY ticker`);
}

/**
 * Queues the exits in one transaction: all of them or none.
 * @throws OperatorError NOT_HELD when a ticker asked for is not held (nothing is queued),
 *   NOTHING_HELD for --all on an account without positions.
 */
export async function requestClose(db: DatabasePool, request: CloseRequest): Promise<CloseReport> {
  return db.transaction(async (tx) => {
    const positions = await held(tx, request.account);
    const byTicker = new Map(positions.map((p) => [p.ticker, p.quantity]));
    let tickers: readonly string[];
    if (request.tickers === "all") {
      if (positions.length === 0) {
        throw new OperatorError("NOTHING_HELD", `the ${request.account} account holds no position`, {
          hint: "nothing to close; opsctl status shows the portfolio",
        });
      }
      tickers = positions.map((p) => p.ticker);
    } else {
      tickers = [...new Set(request.tickers.map((t) => t.toUpperCase()))];
      const missing = tickers.filter((t) => !byTicker.has(t));
      if (missing.length > 0) {
        throw new OperatorError(
          "NOT_HELD",
          `not held in the ${request.account} account: ${missing.join(", ")}; nothing was queued`,
          {
            hint: `held: ${positions.map((p) => p.ticker).join(", ") || "(none)"}; opsctl close --all closes every position`,
          },
        );
      }
    }
    const report: CloseReport = {
      account: request.account,
      by: request.who,
      reason: request.reason,
      requested: [],
      alreadyPending: [],
    };
    for (const ticker of tickers) {
      const exitId = await insertExitOrder(tx, {
        account: request.account,
        ticker,
        reason: "operator",
        positionExitId: null,
        triggerPrice: null,
        triggerCandleTsMs: null,
        requestedBy: request.who,
        note: request.reason,
        now: request.now,
      });
      if (exitId !== null) {
        report.requested.push({ exitId, ticker, quantity: byTicker.get(ticker) ?? 0 });
        continue;
      }
      const pending = await tx.oneFirst(sql.type(z.object({ id: z.number() }))`
        SELECT id FROM dispatch_exits WHERE account = ${request.account} AND ticker = ${ticker} AND status = 'PENDING'`);
      report.alreadyPending.push({ ticker, exitId: pending });
    }
    return report;
  });
}
