import { Command, InvalidArgumentError } from "commander";
import type { Params } from "../../../services/common/params/definitions.ts";
import { isParamKey, PARAM_KEYS } from "../../../services/common/params/keys.ts";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import { changeParam, describeBroker, describeChange } from "./params-shared.ts";

/** A value on the command line: JSON when it parses (true, 20, ["AAPL"]), else the bare string. */
export function parseCliValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function paramsCommand(): Command {
  const params = new Command("params").description("run-time parameters: list, set, audit trail").addHelpText(
    "after",
    `
Examples:
  opsctl params list
  opsctl params set max-trades-per-day 10 --reason "first live week"
  opsctl params set watchlist '["AAPL","MSFT"]'
  opsctl params audit --limit 20 --json`,
  );

  params.addCommand(
    new Command("list")
      .description("every parameter, its value (default when never set) and what it does")
      .addHelpText(
        "after",
        `\nJSON: {"store","params":[{"key","value","default","isDefault","doc"}]}\n\nExample:\n  opsctl params list --json`,
      )
      .action(async (_options: unknown, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const out = createOutput({ json: globals.json === true });
        const backend = await openBackend(cliContext(globals));
        try {
          const [values, { PARAMETERS }] = await Promise.all([
            backend.params().getAll(),
            import("../../../services/common/params/definitions.ts"),
          ]);
          const rows = PARAM_KEYS.map((key) => ({
            key,
            value: values[key],
            default: PARAMETERS[key].default,
            isDefault: JSON.stringify(values[key]) === JSON.stringify(PARAMETERS[key].default),
            doc: PARAMETERS[key].doc,
          }));
          out.result({ store: backend.params().kind, params: rows }, () =>
            rows
              .map(
                (row) =>
                  `${row.key.padEnd(32)} ${JSON.stringify(row.value)}${row.isDefault ? "  (default)" : ""}`,
              )
              .join("\n"),
          );
        } finally {
          await backend.close();
        }
      }),
  );

  params.addCommand(
    new Command("set")
      .description("set one parameter (validated, audited)")
      .argument("<key>", `one of: ${PARAM_KEYS.join(", ")}`, (key: string) => {
        if (!isParamKey(key))
          throw new InvalidArgumentError(`unknown parameter; one of ${PARAM_KEYS.join(", ")}`);
        return key;
      })
      .argument("<value>", 'JSON (true, 20, ["AAPL"]) or a bare string')
      .option("--reason <text>", "why, kept in the audit trail")
      .option("-y, --yes", "skip the typed confirmation (setting dry-run false)")
      .addHelpText(
        "after",
        `\nJSON: {"key","changed","oldValue","newValue","changedBy","reason","store"}\n\nExample:\n  opsctl params set sentiment-threshold 0.4 --reason tuning`,
      )
      .action(
        async (
          key: keyof Params,
          value: string,
          options: { reason?: string; yes?: boolean },
          command: Command,
        ) => {
          const globals = command.optsWithGlobals<GlobalOptions>();
          const out = createOutput({ json: globals.json === true });
          const context = cliContext(globals);
          const backend = await openBackend(context, { access: "write" });
          try {
            const change = await changeParam(backend, key, parseCliValue(value) as never, {
              broker: describeBroker(context.config),
              reason: options.reason,
              yes: options.yes === true,
              retry: `opsctl params set ${key} ${value}`,
            });
            out.result(change, () => describeChange(change));
          } finally {
            await backend.close();
          }
        },
      ),
  );

  params.addCommand(
    new Command("audit")
      .description("the audit trail of parameter changes, newest first")
      .option(
        "--limit <n>",
        "how many entries",
        (text: string) => {
          const n = Number(text);
          if (!Number.isInteger(n) || n < 1 || n > 1000)
            throw new InvalidArgumentError("--limit must be 1..1000");
          return n;
        },
        50,
      )
      .addHelpText(
        "after",
        `\nJSON: {"entries":[{"key","oldValue","newValue","changedBy","changedAt","store","reason"}]}\n\nExample:\n  opsctl params audit --limit 10`,
      )
      .action(async (options: { limit: number }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const out = createOutput({ json: globals.json === true });
        const backend = await openBackend(cliContext(globals));
        try {
          const entries = await backend.paramAudit(options.limit);
          out.result({ entries }, () =>
            entries.length === 0
              ? "no parameter changes yet"
              : entries
                  .map(
                    (entry) =>
                      `${entry.changedAt}  ${entry.key.padEnd(24)} ${JSON.stringify(entry.oldValue)} → ${JSON.stringify(entry.newValue)}  ${entry.changedBy} (${entry.store})${entry.reason ? `  "${entry.reason}"` : ""}`,
                  )
                  .join("\n"),
          );
        } finally {
          await backend.close();
        }
      }),
  );
  return params;
}
