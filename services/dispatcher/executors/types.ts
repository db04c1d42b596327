import type { Account } from "../portfolio.ts";

/** What an executor did, recorded as the recommendation's dispatch_executions row. */
export interface ExecutionResult {
  executor: "dry-run" | "alpaca-paper";
  account: Account;
  quantity: number;
  price: number;
  fees: number;
  realisedPnl: number;
  brokerOrderId: string | null;
  details: Record<string, unknown>;
}
