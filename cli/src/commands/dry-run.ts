import { Command } from "commander";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import { changeParam, describeBroker, describeChange, LIVE_CONFIRMATION } from "./params-shared.ts";

export function dryRunCommand(): Command {
  return new Command("dry-run")
    .description("show or switch dry-run (on: no broker is ever called)")
    .argument("[action]", "on | off | status", "status")
    .option(
      "-y, --yes",
      `turn dry-run off without typing "${LIVE_CONFIRMATION}" (required without a terminal)`,
    )
    .option("--reason <text>", "why, kept in the audit trail")
    .addHelpText(
      "after",
      `
Turning dry-run off asks you to type "${LIVE_CONFIRMATION}"; without a terminal it refuses unless --yes.
Every change is audited (opsctl params audit). On --target aws the value lives in SSM.

JSON: status {"key":"dry-run","value":true,"store":"postgres"}; on/off the change:
{"key","changed","oldValue","newValue","changedBy","reason","store"}

Examples:
  opsctl dry-run                     is it on?
  opsctl dry-run on --reason "broker maintenance"
  opsctl dry-run off                 asks you to type ${LIVE_CONFIRMATION}
  opsctl dry-run off --yes --json    scripted, still audited`,
    )
    .action(async (action: string, options: { yes?: boolean; reason?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      if (!["on", "off", "status"].includes(action)) {
        const { OperatorError } = await import("../../../services/common/errors.ts");
        throw new OperatorError("BAD_ARGUMENT", `dry-run ${action}: expected on, off or status`, {
          hint: "opsctl dry-run on | off | status",
        });
      }
      const context = cliContext(globals);
      const backend = await openBackend(context, { access: action === "status" ? "read" : "write" });
      try {
        if (action === "status") {
          const value = (await backend.params().getAll())["dry-run"];
          out.result({ key: "dry-run", value, store: backend.params().kind }, () =>
            value
              ? "dry-run is ON: no broker is called"
              : describeBroker(context.config) === null
                ? "dry-run is OFF, but no broker is configured (OPS_ALPACA_BASE_URL unset): orders are rejected at the dry-run gate"
                : `dry-run is OFF: orders go to ${describeBroker(context.config)}`,
          );
          return;
        }
        const change = await changeParam(backend, "dry-run", action === "on", {
          broker: describeBroker(context.config),
          reason: options.reason,
          yes: options.yes === true,
          retry: `opsctl dry-run off${globals.target ? ` --target ${globals.target}` : ""}`,
        });
        out.result(change, () => describeChange(change));
      } finally {
        await backend.close();
      }
    });
}
