import * as z from "zod";
import type { Params } from "./params/definitions.ts";

/**
 * Exits (issue 15): a position's stop-loss, take-profit and maximum holding time, and how a
 * 5-minute candle triggers them. Pure, and in common because two stages apply the very same
 * rules: the dispatcher to dry-run positions (and to broker positions without a bracket), the
 * engine's replay to replayed ones, so replayed P&L is what dry-run would have made.
 */

export const exitParams = z.object({
  /** Percent below entry; 0: no stop-loss. */
  stopLossPct: z.number().min(0).max(100),
  /** Percent above entry; 0: no take-profit. */
  takeProfitPct: z.number().min(0),
  /** Minutes after entry; 0: no limit. */
  maxHoldingMinutes: z.number().int().min(0),
});
export type ExitParams = z.infer<typeof exitParams>;

/** The exit parameters in effect (the engine stores a copy with each recommendation). */
export function exitParamsFrom(
  params: Pick<Params, "exit-stop-loss-pct" | "exit-take-profit-pct" | "exit-max-holding-minutes">,
): ExitParams {
  return {
    stopLossPct: params["exit-stop-loss-pct"],
    takeProfitPct: params["exit-take-profit-pct"],
    maxHoldingMinutes: params["exit-max-holding-minutes"],
  };
}

export interface ExitLevels {
  stopPrice: number | null;
  takeProfitPrice: number | null;
  expiresAtMs: number | null;
}

/** Rounds a price to the cent (Alpaca refuses sub-penny prices above $1), or 4 decimals below $1. */
export function roundPrice(price: number): number {
  const factor = price >= 1 ? 100 : 10_000;
  return Math.round(price * factor) / factor;
}

/** The levels a position entered at `entryPrice` at `enteredAtMs` gets. */
export function exitLevels(exits: ExitParams, entryPrice: number, enteredAtMs: number): ExitLevels {
  return {
    stopPrice: exits.stopLossPct > 0 ? roundPrice(entryPrice * (1 - exits.stopLossPct / 100)) : null,
    takeProfitPrice:
      exits.takeProfitPct > 0 ? roundPrice(entryPrice * (1 + exits.takeProfitPct / 100)) : null,
    expiresAtMs: exits.maxHoldingMinutes > 0 ? enteredAtMs + exits.maxHoldingMinutes * 60_000 : null,
  };
}

export interface ExitCandle {
  tsMs: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

export type ExitReason = "stop-loss" | "take-profit" | "max-holding" | "operator";

export interface ExitTrigger {
  reason: "stop-loss" | "take-profit";
  /** The price the exit sells at before slippage. */
  price: number;
  candleTsMs: number;
}

/**
 * What one candle does to the levels: low ≤ stop sells at the stop, or at the open when the
 * candle opened below it (a gap: a stop order fills at the market, not at its price); high ≥
 * take-profit sells at the take-profit, or at the open when it opened above it (a limit order
 * fills at the better price). Both in one candle: the stop (the bar does not say which came
 * first, so the conservative one). Null: neither.
 */
export function candleTrigger(levels: ExitLevels, candle: ExitCandle): ExitTrigger | null {
  if (levels.stopPrice !== null && candle.low <= levels.stopPrice) {
    return { reason: "stop-loss", price: Math.min(levels.stopPrice, candle.open), candleTsMs: candle.tsMs };
  }
  if (levels.takeProfitPrice !== null && candle.high >= levels.takeProfitPrice) {
    return {
      reason: "take-profit",
      price: Math.max(levels.takeProfitPrice, candle.open),
      candleTsMs: candle.tsMs,
    };
  }
  return null;
}

/** True once the maximum holding time has passed at `nowMs`. */
export function holdingExpired(levels: ExitLevels, nowMs: number): boolean {
  return levels.expiresAtMs !== null && nowMs >= levels.expiresAtMs;
}
