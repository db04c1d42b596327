import { Command, InvalidArgumentError } from "commander";
import { openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import { ordersText } from "../ui/trading-lines.ts";

/**
 * `opsctl orders`: every order the dispatcher placed or simulated, newest first, with its
 * lifecycle as the broker reported it (status, filled quantity, average fill price).
 */
export function ordersCommand(): Command {
  return new Command("orders")
    .description("orders newest first: status, side, quantity filled, average fill price, recommendation")
    .option("--open", "only orders not yet terminal (still followed to their fill)")
    .option(
      "--limit <n>",
      "at most this many rows (newest first)",
      (text: string) => {
        const n = Number(text);
        if (!Number.isInteger(n) || n < 1 || n > 10_000)
          throw new InvalidArgumentError("--limit must be 1..10000");
        return n;
      },
      50,
    )
    .addHelpText(
      "after",
      `
Terminal states: filled, canceled, expired, rejected, replaced (and unknown-at-broker, set when
reconciliation adopts the broker's view of an order it does not have).

JSON: {"orders":[{"brokerOrderId","clientOrderId","account","recommendationId","ticker","side","quantity",
"status","terminal","filledQty","avgFillPrice","createdAt","updatedAt"}],"total":N}

Examples:
  opsctl orders
  opsctl orders --open --json`,
    )
    .action(async (options: { open?: boolean; limit: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals));
      try {
        const list = await backend.orders({ open: options.open === true, limit: options.limit });
        out.result(list, () => ordersText(list, options.open === true));
      } finally {
        await backend.close();
      }
    });
}
