import type { CommonQueryMethods } from "../common/db.ts";
import { describeCause } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";
import { type SimulatorSettings, simulateFill } from "./executors/dry-run.ts";
import type { PlannedOrder } from "./gates.ts";
import { readAccountState } from "./queries.ts";

/**
 * The shadow portfolio (issue 15, deliverable 6): while dry-run is off, every order the
 * dispatcher records as executed at the broker is also simulated by the dry-run simulator
 * (executors/dry-run.ts, same price rule, slippage and fees), in the account "shadow", so the
 * broker's account and what dry-run would have made of the same decisions can be compared
 * (`opsctl status`). It is the simulator only: it has no broker and cannot call one.
 *
 * Nothing counts twice: the shadow writes orders, fills, a position and its account (ids
 * `shadow:<recommendation>`, the fill's execution id UNIQUE), never an execution row, and every
 * gate, trade count, reconciliation and the trade stream read their own account only. It runs
 * in the broker fill's transaction, under the risk lock, in a savepoint: a shadow that cannot be
 * written is logged and rolled back alone, never failing the broker's execution. A SELL sells
 * what the shadow holds (a dry-run SELL sells the whole position), which may differ from the
 * broker's after a partial fill; a SELL of nothing the shadow holds records nothing.
 */

export async function recordShadowFill(
  tx: CommonQueryMethods,
  order: PlannedOrder & { ticker: string; clientOrderId: string; recommendationId: number },
  options: { settings: SimulatorSettings; now: Date; logger: Logger },
): Promise<void> {
  const log = options.logger.child({ account: "shadow" });
  try {
    await tx.transaction(async (sp) => {
      let quantity = order.quantity;
      if (order.side === "SELL") {
        const state = await readAccountState(sp, { account: "shadow", ticker: order.ticker });
        if (!state.held) {
          log.info("shadow holds none of this ticker: nothing to sell in the shadow");
          return;
        }
        quantity = state.held.quantity;
      }
      const simulated = await simulateFill(
        sp,
        { ...order, quantity, notional: quantity * order.referencePrice },
        options.settings,
        options.now,
        log,
        "shadow",
      );
      log.info({ quantity: simulated.quantity, price: simulated.price }, "shadow fill simulated");
    });
  } catch (error) {
    log.error({ error: describeCause(error) }, "shadow fill not recorded (the broker's execution is)");
  }
}
