import { Command } from "commander";
import type { HopLatency, LatencyReport } from "../../../services/ops/latency.ts";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import { parseSince } from "./recs.ts";

/** Milliseconds as an operator reads them: 850ms, 4.2s, 3m12s. */
export function formatLatency(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${String(Math.round((ms % 60_000) / 1_000)).padStart(2, "0")}s`;
}

/** One line per hop: `stored → decided  n=12  p50 1.2s  p95 3.4s  max 5.0s`. */
export function latencyLines(report: LatencyReport): string[] {
  const name = (hop: HopLatency) => `${hop.from} → ${hop.to}`;
  const width = Math.max(...report.hops.map((hop) => name(hop).length));
  return [
    `latency since ${report.since} over ${report.recommendations} recommendation(s)`,
    ...report.hops.map(
      (hop) =>
        `${name(hop).padEnd(width)}  n=${String(hop.count).padEnd(5)} p50 ${formatLatency(hop.p50Ms).padEnd(7)} p95 ${formatLatency(hop.p95Ms).padEnd(7)} max ${formatLatency(hop.maxMs)}`,
    ),
  ];
}

export function latencyCommand(): Command {
  return new Command("latency")
    .description("p50 / p95 / max per hop, headline to order, and end to end")
    .option(
      "--since <time>",
      "recommendations made at or after this time: ISO 8601, or 90m / 6h / 2d ago",
      (text: string) => parseSince(text),
    )
    .addHelpText(
      "after",
      `
Hops: published → seen (fetched) → stored → classified → recommended → decided → submitted → filled,
measured per recommendation through the headline it waited for (its last-classified source).

JSON: {"since","recommendations","hops":[{from,to,count,p50Ms,p95Ms,maxMs}]}

Examples:
  opsctl latency                    the last day
  opsctl latency --since 6h --json`,
    )
    .action(async (options: { since?: Date }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals));
      try {
        const since = options.since ?? new Date(backend.clock.now().getTime() - 86_400_000);
        const report = await backend.latency(since);
        out.result(report, () => latencyLines(report).join("\n"));
      } finally {
        await backend.close();
      }
    });
}
