import { Command } from "commander";
import type { Level } from "../../../services/common/health.ts";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput, EXIT } from "../output.ts";

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
  opsctl status --target aws          an AWS stack, through its ops-api function
  opsctl status >/dev/null || page-someone`,
    )
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const context = cliContext(globals);
      const backend = await openBackend(context);
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
          out.result(report, () => "");
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
