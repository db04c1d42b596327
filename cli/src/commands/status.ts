import { setTimeout as delay } from "node:timers/promises";
import { Command, InvalidArgumentError } from "commander";
import type { Level } from "../../../services/common/health.ts";
import { type OpsBackend, openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput, EXIT, type Output } from "../output.ts";

/** The exit code of a health level: scripts and cron jobs branch on it. */
export function exitCodeFor(level: Level): number {
  return level === "ERROR" ? EXIT.error : level === "WARN" ? EXIT.warn : EXIT.ok;
}

export function statusCommand(): Command {
  return new Command("status")
    .description("one screen: stage health, freshness, backlogs, dry-run and kill switch, backups, alerts")
    .addHelpText(
      "after",
      `
Exit codes: 0 healthy, 3 warn, 4 error (2 the command could not run, 1 a bug).

Examples:
  opsctl status                       the screen
  opsctl status --json | jq .health   the stable JSON document (schemaVersion 2)
  opsctl status -w                    redrawn in place every 2 s (Ctrl-C stops)
  opsctl status -w | tee status.log   in a pipe: only the lines that changed, timestamped
  opsctl status --target aws          an AWS stack, through its ops-api function
  opsctl status >/dev/null || page-someone`,
    )
    .option("-w, --watch", "keep watching: redrawn in place on a terminal, changes only in a pipe")
    .option(
      "--interval-ms <ms>",
      "poll interval for --watch",
      (text: string) => {
        const n = Number(text);
        if (!Number.isInteger(n) || n < 200 || n > 600_000)
          throw new InvalidArgumentError("must be 200..600000");
        return n;
      },
      2_000,
    )
    .action(async (options: { watch?: boolean; intervalMs: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const context = cliContext(globals);
      const backend = await openBackend(context);
      if (options.watch) {
        try {
          await watch(backend, out, options.intervalMs);
        } finally {
          await backend.close();
        }
        return;
      }
      try {
        const [snapshot, params, { buildStatusReport, freshnessFor }] = await Promise.all([
          backend.statusSnapshot(),
          backend.params().getAll(),
          import("../../../services/ops/status.ts"),
        ]);
        const report = buildStatusReport(
          snapshot,
          params,
          backend.clock.now(),
          backend.target,
          freshnessFor(context.config.watchdog.freshnessOverrides),
        );
        if (out.json) {
          out.result(statusJson(report), () => "");
        } else {
          const [{ renderScreen }, { StatusScreen }, { createElement }] = await Promise.all([
            import("../ui/render.ts"),
            import("../ui/status-screen.tsx"),
            import("react"),
          ]);
          const text = await renderScreen(createElement(StatusScreen, { report }));
          out.result(report, () => text);
        }
        process.exitCode = exitCodeFor(report.health.level);
      } finally {
        await backend.close();
      }
    });
}

/** Keys that hold a point in time (epoch ms in the report): `…At`, `…Ts` and `since`. */
const TIME_KEY = /(At|Ts)$|^since$/;

/**
 * The report as `status --json` prints it (schemaVersion 2): every point in time as ISO 8601
 * (schemaVersion 1 mixed epoch ms and ISO), and one shape per field (`paperPnl` is an object or
 * null, never the string "n/a"). Durations (`…Ms`) stay numbers.
 */
export function statusJson(report: object): unknown {
  const convert = (value: unknown, key: string): unknown => {
    if (typeof value === "number" && TIME_KEY.test(key)) return new Date(value).toISOString();
    if (key === "paperPnl" && value === "n/a") return null;
    if (Array.isArray(value)) return value.map((item) => convert(item, ""));
    if (value !== null && typeof value === "object")
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v, k)]));
    return value;
  };
  return { ...(convert(report, "") as object), schemaVersion: 2 };
}

/** The lines of `next` that were not on the previous screen (its first line, the clock, aside). */
export function changedLines(previous: readonly string[] | null, next: readonly string[]): string[] {
  const body = next.slice(1).filter((line) => line.trim() !== "");
  if (previous === null) return body;
  const seen = new Set(previous.slice(1));
  return body.filter((line) => !seen.has(line));
}

/**
 * `status --watch`: on a terminal an Ink screen redrawn in place each poll; in a pipe the first
 * screen, then only the lines that changed, each prefixed with the time (JSON: one compact
 * document per line, when anything but the time changed). Ctrl-C stops it (exit 0).
 */
async function watch(backend: OpsBackend, out: Output, intervalMs: number): Promise<void> {
  const [{ buildStatusReport }, { createElement }, ui] = await Promise.all([
    import("../../../services/ops/status.ts"),
    import("react"),
    import("../ui/status-screen.tsx"),
  ]);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let instance: { rerender(node: React.ReactNode): void; unmount(): void } | undefined;
  let previous: string[] | null = null;
  let previousJson: string | null = null;
  let polls = 0;
  try {
    while (!controller.signal.aborted) {
      let report: ReturnType<typeof buildStatusReport> | null = null;
      let error: string | null = null;
      try {
        const [snapshot, params] = await Promise.all([backend.statusSnapshot(), backend.params().getAll()]);
        report = buildStatusReport(snapshot, params, backend.clock.now(), backend.target);
      } catch (cause) {
        error = cause instanceof Error ? cause.message : String(cause);
      }
      polls += 1;
      const stamp = new Date().toISOString().slice(11, 19);
      if (out.interactive) {
        const element = createElement(ui.StatusWatchScreen, {
          report,
          error,
          polls,
          intervalMs,
          lastPollAt: stamp,
        });
        if (instance) instance.rerender(element);
        else {
          const { render } = await import("ink");
          instance = render(element, { exitOnCtrlC: false, patchConsole: false });
        }
      } else if (out.json) {
        const document = report ? statusJson(report) : { error: { code: "POLL_FAILED", message: error } };
        const { at: _at, ...rest } = document as { at?: string };
        const key = JSON.stringify(rest);
        if (key !== previousJson) process.stdout.write(`${JSON.stringify(document)}\n`);
        previousJson = key;
      } else if (report) {
        const { renderScreen } = await import("../ui/render.ts");
        const lines = (await renderScreen(createElement(ui.StatusScreen, { report }))).split("\n");
        const changed = changedLines(previous, lines);
        if (previous === null) process.stdout.write(`${lines[0]}\n`);
        for (const line of changed) process.stdout.write(`${stamp} ${line}\n`);
        previous = lines;
      } else {
        process.stderr.write(`opsctl: poll failed (${error}); retrying\n`);
      }
      await delay(intervalMs, undefined, { signal: controller.signal }).catch(() => undefined);
    }
  } finally {
    instance?.unmount();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
