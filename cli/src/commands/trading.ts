import { Command } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import {
  type OpsBackend,
  openBackend,
  operatorIdentity,
  type TradingReport,
  type TradingTrip,
} from "../backend.ts";
import { type ConfirmEnvironment, requireTypedConfirmation, terminalConfirmEnvironment } from "../confirm.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";
import { type ChangeResult, changeParam, describeChange } from "./params-shared.ts";

const STATES = ["active", "reducing", "halted"] as const;
type State = (typeof STATES)[number];

/** The word an operator types to return to active over an open loss-limit trip. */
export const ACTIVE_CONFIRMATION = "active";

/** What `opsctl trading STATE` did (`--json`). */
export interface TradingChange {
  /** Trips acknowledged on the way back to active (empty otherwise). */
  acknowledged: TradingTrip[];
  change: ChangeResult;
  /** The state in effect afterwards: still reducing while differences are open, halted under the kill switch. */
  after: TradingReport;
}

function describeTrip(trip: TradingTrip): string {
  return `#${trip.id} ${trip.kind} on ${trip.account} at ${trip.trippedAt} by ${trip.trippedBy}: ${trip.reason}`;
}

/** The state and why, the way `opsctl trading` prints it. */
export function describeReport(report: TradingReport): string {
  return [
    `trading: ${report.state}`,
    `  parameter trading-state: ${report.parameter}`,
    `  kill switch: ${report.killSwitch.engaged ? `ENGAGED${report.killSwitch.reason ? ` (${report.killSwitch.reason})` : ""}` : "off"}`,
    `  reconciliation differences open: ${report.openDifferences}${report.openDifferences > 0 ? " (opsctl reconcile)" : ""}`,
    `  loss-limit trips open: ${report.openTrips.length}`,
    ...report.openTrips.map((trip) => `    ${describeTrip(trip)}`),
    ...(report.state === "active" ? [] : [`  why: ${report.reasons.join("; ")}`]),
  ].join("\n");
}

/**
 * Sets the trading state. Returning to active acknowledges every open loss-limit trip first
 * (audited with who and why) after a typed confirmation, then sets the parameter (audited in
 * param_audit); reducing and halted set the parameter and nothing else.
 * @throws OperatorError from the confirmation guard or the stores.
 */
export async function setTradingState(
  backend: OpsBackend,
  state: State,
  options: { reason?: string | undefined; yes: boolean; retry: string; confirm?: ConfirmEnvironment },
): Promise<TradingChange> {
  let acknowledged: TradingTrip[] = [];
  if (state === "active") {
    const before = await backend.tradingReport();
    if (before.openTrips.length > 0) {
      await requireTypedConfirmation(
        options.confirm ?? terminalConfirmEnvironment(options.yes),
        `Returning trading to ACTIVE on the ${backend.target} stack acknowledges ${before.openTrips.length} loss-limit trip(s) (${before.openTrips.map((t) => `${t.kind} on ${t.account}`).join(", ")}): entries will be allowed again.`,
        ACTIVE_CONFIRMATION,
        options.retry,
      );
      acknowledged = await backend.acknowledgeTrips(operatorIdentity(), options.reason ?? null);
    }
  }
  const change = await changeParam(backend, "trading-state", state, {
    reason: options.reason,
    yes: options.yes,
    retry: options.retry,
    ...(options.confirm ? { confirm: options.confirm } : {}),
  });
  return { acknowledged, change, after: await backend.tradingReport() };
}

function describeTradingChange(result: TradingChange): string {
  const lines = [
    ...result.acknowledged.map((trip) => `acknowledged ${describeTrip(trip)}`),
    describeChange(result.change),
    `trading is now ${result.after.state}${result.after.reasons.length > 0 ? ` (${result.after.reasons.join("; ")})` : ""}`,
  ];
  if (result.acknowledged.some((trip) => trip.kind === "daily-loss-limit")) {
    lines.push(
      "a daily loss still past max-daily-loss-usd trips again at the next decision: raise the limit to trade on today",
    );
  }
  return lines.join("\n");
}

/**
 * `opsctl trading [active|reducing|halted]`: without a state, the state in effect and why; with
 * one, sets it (active acknowledges open loss-limit trips, type-to-confirm).
 */
export function tradingCommand(): Command {
  return new Command("trading")
    .description(
      "show the trading state and why (parameter, loss-limit trips, reconciliation, kill switch), or set it",
    )
    .argument("[state]", "active | reducing | halted")
    .option("--reason <text>", "why; kept in the audit trail")
    .option(
      "-y, --yes",
      `return to active over an open trip without typing "${ACTIVE_CONFIRMATION}" (required without a terminal)`,
    )
    .addHelpText(
      "after",
      `
States: active (every gate decides); reducing (exits pass, entries are refused); halted (nothing
passes). The state in effect is at least reducing while a loss limit is tripped (daily-loss-limit,
max-drawdown) or a reconciliation difference is open, and halted while the kill switch is engaged.
Only an operator returns to active: "trading active" acknowledges every open trip (audited, with
who and --reason; asks you to type "${ACTIVE_CONFIRMATION}") and sets the trading-state parameter
(audited in opsctl params audit). "trading halted" changes only the state, not the kill switch.

JSON: show {"state","reasons","parameter","killSwitch","openTrips":[{"id","account","kind","reason","values","trippedAt","trippedBy"}],"openDifferences"};
set {"acknowledged":[...],"change":{"key","changed","oldValue","newValue","changedBy","reason","store"},"after":{...}}

Examples:
  opsctl trading
  opsctl trading reducing --reason "earnings week"
  opsctl trading active --reason "loss reviewed"   asks you to type ${ACTIVE_CONFIRMATION} if a trip is open
  opsctl trading halted --json`,
    )
    .action(
      async (state: string | undefined, options: { reason?: string; yes?: boolean }, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const out = createOutput({ json: globals.json === true });
        if (state !== undefined && !(STATES as readonly string[]).includes(state)) {
          throw new OperatorError("BAD_ARGUMENT", `trading ${state}: expected active, reducing or halted`, {
            hint: "opsctl trading [active | reducing | halted]",
          });
        }
        const backend = await openBackend(cliContext(globals), {
          access: state === undefined ? "read" : "write",
        });
        try {
          if (state === undefined) {
            const report = await backend.tradingReport();
            out.result(report, () => describeReport(report));
            return;
          }
          const result = await setTradingState(backend, state as State, {
            reason: options.reason,
            yes: options.yes === true,
            retry: `opsctl trading ${state}${globals.target ? ` --target ${globals.target}` : ""}`,
          });
          out.result(result, () => describeTradingChange(result));
        } finally {
          await backend.close();
        }
      },
    );
}
