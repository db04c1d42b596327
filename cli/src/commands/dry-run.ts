import { Command, InvalidArgumentError } from "commander";
import {
  dryRunInEffect,
  dryRunWindow,
  parseWindowDuration,
} from "../../../services/common/dry-run-window.ts";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import {
  type ChangeResult,
  changeParam,
  describeBroker,
  describeChange,
  LIVE_CONFIRMATION,
} from "./params-shared.ts";

/** A `--for` value: how long the broker window lasts, as typed and in ms. */
export interface WindowLength {
  text: string;
  ms: number;
}

/**
 * --for: whole minutes, hours or days (30m, 2h, 1d), 1 minute to 7 days.
 * @throws InvalidArgumentError otherwise (a usage error: exit 2, nothing changed).
 */
export function parseForOption(text: string): WindowLength {
  const ms = parseWindowDuration(text);
  if (ms === null) {
    throw new InvalidArgumentError(
      "must be a duration in whole minutes, hours or days (30m, 2h, 1d), from 1m to 7d",
    );
  }
  return { text: text.trim(), ms };
}

function remaining(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes}m`;
  return minutes % 60 === 0 ? `${minutes / 60}h` : `${Math.floor(minutes / 60)}h${minutes % 60}m`;
}

export function dryRunCommand(): Command {
  return new Command("dry-run")
    .description("show or switch dry-run (on: no broker is ever called)")
    .argument("[action]", "on | off | status", "status")
    .option(
      "--for <duration>",
      "with off: back to dry-run automatically after this long (30m, 2h, 1d; at most 7d)",
      parseForOption,
    )
    .option(
      "-y, --yes",
      `turn dry-run off without typing "${LIVE_CONFIRMATION}" (required without a terminal)`,
    )
    .option("--reason <text>", "why, kept in the audit trail")
    .addHelpText(
      "after",
      `
Turning dry-run off asks you to type "${LIVE_CONFIRMATION}"; without a terminal it refuses unless --yes.
With --for the broker is on for that long only: the deadline (parameter dry-run-until) is written
first, every decision from the deadline on is dry-run whatever else it reads, and the dispatcher
writes dry-run back on (audited, by dispatcher:<instance>). "off" without --for has no deadline
(it clears one); "on" clears it too. Every change is audited (opsctl params audit). On --target aws
the values live in SSM.

JSON: status {"key":"dry-run","value":true,"inEffect":true,"window":null,"store":"postgres"}
(window: {"until","remainingMs","expired"}); on/off the change
{"key","changed","oldValue","newValue","changedBy","reason","store","broker","until"}

Examples:
  opsctl dry-run                     is it on? how long is left?
  opsctl dry-run on --reason "broker maintenance"
  opsctl dry-run off --for 2h        the broker for two hours, then dry-run again
  opsctl dry-run off                 no deadline; asks you to type ${LIVE_CONFIRMATION}
  opsctl dry-run off --for 30m --yes --json    scripted, still audited`,
    )
    .action(
      async (
        action: string,
        options: { yes?: boolean; reason?: string; for?: WindowLength },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const out = createOutput({ json: globals.json === true });
        const { OperatorError } = await import("../../../services/common/errors.ts");
        if (!["on", "off", "status"].includes(action)) {
          throw new OperatorError("BAD_ARGUMENT", `dry-run ${action}: expected on, off or status`, {
            hint: "opsctl dry-run on | off | status",
          });
        }
        if (options.for !== undefined && action !== "off") {
          throw new OperatorError("BAD_ARGUMENT", `--for goes with dry-run off, not ${action}`, {
            hint: "opsctl dry-run off --for 2h",
          });
        }
        const context = cliContext(globals);
        const backend = await openBackend(context, { access: action === "status" ? "read" : "write" });
        try {
          if (action === "status") {
            const params = await backend.params().getAll();
            const now = backend.clock.now();
            const value = params["dry-run"];
            const window = dryRunWindow(params, now);
            const inEffect = dryRunInEffect(params, now);
            out.result({ key: "dry-run", value, inEffect, window, store: backend.params().kind }, () =>
              inEffect
                ? window
                  ? `dry-run is ON: the broker window ended at ${window.until} (the dispatcher writes dry-run back on)`
                  : "dry-run is ON: no broker is called"
                : describeBroker(context.config) === null
                  ? "dry-run is OFF, but no broker is configured (OPS_ALPACA_BASE_URL unset): orders are rejected at the dry-run gate"
                  : `dry-run is OFF: orders go to ${describeBroker(context.config)}${window ? ` until ${window.until} (${remaining(window.remainingMs)} left)` : " (no deadline)"}`,
            );
            return;
          }
          const retry = `opsctl dry-run off${options.for ? ` --for ${options.for.text}` : ""}${globals.target ? ` --target ${globals.target}` : ""}`;
          const until =
            action === "off" && options.for
              ? new Date(backend.clock.now().getTime() + options.for.ms).toISOString()
              : null;
          // The deadline is written before dry-run goes off, and cleared after it comes on: a
          // crash in between leaves dry-run on, never the broker without its deadline.
          const writeDeadline = () =>
            changeParam(backend, "dry-run-until", until, {
              reason:
                options.reason ??
                (until ? `opsctl dry-run off --for ${options.for?.text}` : `opsctl dry-run ${action}`),
              yes: true,
              retry,
            });
          let deadline: ChangeResult | null = null;
          const change = await changeParam(backend, "dry-run", action === "on", {
            broker: describeBroker(context.config),
            reason: options.reason,
            yes: options.yes === true,
            retry,
            ...(action === "off"
              ? {
                  beforeWrite: async () => {
                    deadline = await writeDeadline();
                  },
                }
              : {}),
          });
          // Already off (only the deadline moves), or turned on (the deadline goes).
          if (deadline === null) deadline = await writeDeadline();
          const cleared = (deadline as ChangeResult).changed && until === null;
          out.result({ ...change, until }, () => {
            const lines = [describeChange(change)];
            if (until && options.for) {
              lines.push(
                `back to dry-run at ${until} (in ${options.for.text}), written back by the dispatcher`,
              );
            } else if (action === "off") {
              lines.push(
                cleared
                  ? "no deadline: the earlier one is cleared; dry-run stays off until someone turns it on"
                  : "no deadline: dry-run stays off until someone turns it on (--for sets one)",
              );
            } else if (cleared) lines.push("the broker window's deadline is cleared");
            return lines.join("\n");
          });
        } finally {
          await backend.close();
        }
      },
    );
}
