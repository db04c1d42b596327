import type { ReactNode } from "react";

/**
 * Renders a finished screen once and returns its text: the same layout on a terminal and in a
 * pipe, colours only on a terminal without NO_COLOR. Ink is imported here, lazily, so commands
 * printing --json never load it.
 */
export async function renderScreen(node: ReactNode): Promise<string> {
  if ((process.env.NO_COLOR ?? "") !== "" || process.stdout.isTTY !== true) {
    // chalk (under Ink) reads FORCE_COLOR when first imported.
    process.env.FORCE_COLOR = "0";
  }
  const { renderToString } = await import("ink");
  return renderToString(node, { columns: Math.max(60, process.stdout.columns ?? 100) });
}
