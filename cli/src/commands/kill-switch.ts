import { Command } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import { openBackend, operatorIdentity } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import { changeParam, describeChange } from "./params-shared.ts";

export function killSwitchCommand(): Command {
  return new Command("kill-switch")
    .description("show, engage or reset the kill switch (engaged: every recommendation is rejected)")
    .argument("[action]", "on | off | status", "status")
    .option("--reason <text>", "why; stored in the switch and in the audit trail")
    .addHelpText(
      "after",
      `
The dispatcher engages it itself after repeated execution errors; only an operator resets it.

JSON: status {"key":"kill-switch","value":{"engaged","reason","at","by"},"store"}; on/off the change:
{"key","changed","oldValue","newValue","changedBy","reason","store"}

Examples:
  opsctl kill-switch
  opsctl kill-switch on --reason "broker returning 500s"
  opsctl kill-switch off --reason "broker fixed" --json`,
    )
    .action(async (action: string, options: { reason?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      if (!["on", "off", "status"].includes(action)) {
        throw new OperatorError("BAD_ARGUMENT", `kill-switch ${action}: expected on, off or status`, {
          hint: "opsctl kill-switch on | off | status",
        });
      }
      const backend = await openBackend(cliContext(globals), {
        access: action === "status" ? "read" : "write",
      });
      try {
        if (action === "status") {
          const value = (await backend.params().getAll())["kill-switch"];
          out.result({ key: "kill-switch", value, store: backend.params().kind }, () =>
            value.engaged
              ? `kill switch ENGAGED${value.reason ? `: ${value.reason}` : ""}${value.by ? ` (by ${value.by}${value.at ? ` at ${value.at}` : ""})` : ""}`
              : "kill switch off",
          );
          return;
        }
        const current = (await backend.params().getAll())["kill-switch"];
        const engaged = action === "on";
        // Engaging twice keeps the first reason: the switch says why it tripped.
        const value =
          current.engaged === engaged
            ? current
            : {
                engaged,
                reason: options.reason ?? null,
                at: backend.clock.now().toISOString(),
                by: operatorIdentity(),
              };
        const change = await changeParam(backend, "kill-switch", value, {
          reason: options.reason,
          yes: true,
          retry: "opsctl kill-switch",
        });
        out.result(change, () => describeChange(change));
      } finally {
        await backend.close();
      }
    });
}
