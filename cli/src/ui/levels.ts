import type { Level } from "../../../services/ops/status.ts";

export const LEVEL_COLOR: Record<Level, string> = {
  ok: "green",
  warn: "yellow",
  error: "red",
  unknown: "gray",
};
export const LEVEL_MARK: Record<Level, string> = { ok: "✓", warn: "!", error: "✗", unknown: "?" };
