import type { CommonQueryMethods } from "../../common/db.ts";
import type { PlannedOrder } from "../gates.ts";
import { type AccountState, applyFill } from "../portfolio.ts";
import type { ExecutionResult } from "./types.ts";

export interface SimulatorSettings {
  slippageBps: number;
  feeBps: number;
  feePerOrderUsd: number;
  startingCashUsd: number;
}

/**
 * The dry-run executor: fills the whole order at the reference price (the newest close) moved
 * against us by the slippage (a BUY pays more, a SELL receives less), charges fees, and moves
 * the paper portfolio in the caller's transaction. It has no broker and cannot reach one.
 * @throws InsufficientCashError when the paper account cannot pay for a BUY.
 */
export async function simulateFill(
  tx: CommonQueryMethods,
  order: PlannedOrder & { ticker: string },
  state: AccountState,
  settings: SimulatorSettings,
  now: Date,
): Promise<ExecutionResult> {
  const direction = order.side === "BUY" ? 1 : -1;
  const price = order.referencePrice * (1 + (direction * settings.slippageBps) / 10_000);
  const notional = order.quantity * price;
  const fees = (notional * settings.feeBps) / 10_000 + settings.feePerOrderUsd;
  const realisedPnl = await applyFill(
    tx,
    "dry-run",
    { ticker: order.ticker, side: order.side, quantity: order.quantity, price, fees },
    state,
    { now, startingCashUsd: settings.startingCashUsd, enforceCash: true },
  );
  return {
    executor: "dry-run",
    account: "dry-run",
    quantity: order.quantity,
    price,
    fees,
    realisedPnl,
    brokerOrderId: null,
    details: {
      referencePrice: order.referencePrice,
      slippageBps: settings.slippageBps,
      feeBps: settings.feeBps,
      feePerOrderUsd: settings.feePerOrderUsd,
    },
  };
}
