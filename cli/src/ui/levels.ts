import type { Level } from "../../../services/common/health.ts";

export const LEVEL_COLOR: Record<Level, string> = { OK: "green", WARN: "yellow", ERROR: "red" };
export const LEVEL_MARK: Record<Level, string> = { OK: "✓", WARN: "!", ERROR: "✗" };
