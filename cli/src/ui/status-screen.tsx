import { Box, Text } from "ink";
import { type AccountFigures, formatAge, type StatusReport } from "../../../services/ops/status.ts";
import { LEVEL_COLOR, LEVEL_MARK } from "./levels.ts";

const TRADING_COLOR = { active: "green", reducing: "yellow", halted: "red" } as const;

function age(nowMs: number, at: number | null): string {
  return at === null ? "never" : `${formatAge(nowMs - at)} ago`;
}

/** `opsctl status`: one screen, top to bottom the way an operator scans it. */
export function StatusScreen({ report }: { report: StatusReport }) {
  const nowMs = Date.parse(report.at);
  const { snapshot, health } = report;
  const pnl = snapshot.paperPnl;
  const freshness: [string, number | null][] = [
    ["raw events ingested", snapshot.newest.rawIngestedAt],
    ["events classified", snapshot.newest.classifiedAt],
    ["candle (lane_telemetry.ts)", snapshot.newest.telemetryTs],
    ["recommendation created", snapshot.newest.recommendationCreatedAt],
    ["execution", snapshot.newest.executionExecutedAt],
  ];
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>ops-pipeline</Text> {report.target} · {report.at} ·{" "}
        <Text bold color={LEVEL_COLOR[health.level]}>
          {health.level.toUpperCase()}
        </Text>
      </Text>
      <Text>
        dry-run{" "}
        <Text bold color={report.dryRun ? "green" : "red"}>
          {report.dryRun ? "ON" : "OFF (live orders)"}
        </Text>
        {windowText(report)}
        {"  "}kill-switch{" "}
        <Text bold color={report.killSwitch.engaged ? "red" : "green"}>
          {report.killSwitch.engaged
            ? `ENGAGED${report.killSwitch.reason ? ` (${report.killSwitch.reason})` : ""}`
            : "off"}
        </Text>
      </Text>
      {report.trading ? (
        <Text>
          trading{" "}
          <Text bold color={TRADING_COLOR[report.trading.state]}>
            {report.trading.state.toUpperCase()}
          </Text>
          {report.trading.reasons.length > 0 ? ` (${report.trading.reasons.join("; ")})` : ""}
        </Text>
      ) : null}
      <Box marginTop={1} flexDirection="column">
        <Text bold>stages</Text>
        {health.stages.map((stage) => (
          <Text key={stage.stage}>
            <Text color={LEVEL_COLOR[stage.level]}>{LEVEL_MARK[stage.level]}</Text> {stage.stage.padEnd(16)}{" "}
            {stage.message}
          </Text>
        ))}
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Text bold>newest rows</Text>
        {freshness.map(([label, at]) => (
          <Text key={label}>
            {"  "}
            {label.padEnd(27)} {age(nowMs, at)}
          </Text>
        ))}
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Text bold>checks</Text>
        {health.checks.map((check) => (
          <Text key={check.key}>
            <Text color={LEVEL_COLOR[check.level]}>{LEVEL_MARK[check.level]}</Text> {check.key.padEnd(22)}{" "}
            {check.message}
          </Text>
        ))}
      </Box>
      <ShadowBlock report={report} />
      <TradingSection report={report} nowMs={nowMs} />
      <Box marginTop={1} flexDirection="column">
        <Text>
          {`pending recommendations ${snapshot.backlog.pending} · executions today ${snapshot.executionsToday} · paper P&L ${pnl === "n/a" ? "n/a" : `${pnl.totalUsd.toFixed(2)} USD (realised ${pnl.realisedUsd.toFixed(2)}, ${pnl.positions} open)`}`}
        </Text>
        <Text>
          classifier{" "}
          {snapshot.classifier
            ? `${snapshot.classifier.classifier} (${snapshot.classifier.modelId})`
            : "none yet"}
        </Text>
        <Text>
          last backup{" "}
          {snapshot.lastBackup
            ? `#${snapshot.lastBackup.id} ${snapshot.lastBackup.status} ${age(nowMs, snapshot.lastBackup.startedAt)} (${snapshot.lastBackup.storage})`
            : "none yet"}
        </Text>
        <Text>
          open alerts{" "}
          {snapshot.openAlerts.length === 0
            ? "none"
            : snapshot.openAlerts.map((alert) => `${alert.checkKey} ${alert.level}`).join(", ")}
        </Text>
      </Box>
    </Box>
  );
}

// --- Going live for a bounded time (issue 15, deliverable 6): the window and the shadow block.

/** After "dry-run OFF": the time left in a broker window, or that it ended and is being written back. */
function windowText(report: StatusReport): string {
  const window = report.dryRunWindow;
  if (!window) return "";
  return window.expired
    ? ` (broker window ended ${window.until}; the dispatcher writes dry-run back on)`
    : ` until ${window.until} (${formatAge(window.remainingMs)} left)`;
}

function money(value: number): string {
  return value.toFixed(2).padStart(12);
}

/** The broker's account beside its shadow (dry-run prices, same decisions); absent until either has a fill. */
function ShadowBlock({ report }: { report: StatusReport }) {
  const comparison = report.snapshot.shadowComparison;
  if (!comparison) return null;
  const rows: [string, AccountFigures | null][] = [
    ["broker (alpaca-paper)", comparison.broker],
    ["shadow (dry-run sim)", comparison.shadow],
  ];
  return (
    <Box marginTop={1} flexDirection="column">
      <Text bold>
        {"broker vs shadow".padEnd(23)}
        {["equity", "realised", "unrealised"].map((h) => h.padStart(12)).join("")} positions
      </Text>
      {rows.map(([label, figures]) => (
        <Text key={label}>
          {"  "}
          {label.padEnd(21)}
          {figures
            ? `${money(figures.equityUsd)}${money(figures.realisedUsd)}${money(figures.unrealisedUsd)} ${String(figures.positions).padStart(9)}`
            : "no fill yet".padStart(12)}
        </Text>
      ))}
    </Box>
  );
}
// --- end of the shadow block.
const usd = (n: number) => `${n >= 0 ? "+" : ""}${n.toFixed(2)}`;

/**
 * Issue 15: open positions and today's P&L per account (realised from the day's fills, unrealised
 * at the newest close) and the reconciliation state. Absent from an older ops-api's snapshot.
 */
export function TradingSection({ report, nowMs }: { report: StatusReport; nowMs: number }) {
  const { positions, reconciliation } = report.snapshot;
  if (!positions && !reconciliation) return null;
  return (
    <Box marginTop={1} flexDirection="column">
      <Text bold>positions and P&L today{positions ? ` (${positions.exchangeDate}, New York)` : ""}</Text>
      {positions && positions.accounts.length === 0 ? (
        <Text>{"  "}no open positions, no fills today</Text>
      ) : null}
      {positions?.accounts.map((a) => (
        <Text key={a.account}>
          {"  "}
          {a.account.padEnd(13)} {a.openPositions} open
          {a.tickers.length > 0 ? ` (${a.tickers.join(", ")})` : ""} · unrealised {usd(a.unrealisedUsd)} ·
          realised today {usd(a.realisedTodayUsd)} USD
        </Text>
      ))}
      {reconciliation ? (
        <Text>
          {"  "}reconciliation{" "}
          <Text color={reconciliation.openDifferences > 0 ? "yellow" : "green"}>
            {reconciliation.openDifferences} open difference(s)
          </Text>
          {reconciliation.openDifferences > 0 ? " (trading reducing; opsctl reconcile)" : ""} · last run{" "}
          {age(nowMs, reconciliation.lastRunAt)}
          {reconciliation.lastRunError ? ` (failed: ${reconciliation.lastRunError})` : ""}
        </Text>
      ) : null}
    </Box>
  );
}

/** `status --watch` on a terminal: the screen, redrawn in place, with when it was last polled. */
export function StatusWatchScreen({
  report,
  error,
  polls,
  intervalMs,
  lastPollAt,
}: {
  report: StatusReport | null;
  error: string | null;
  polls: number;
  intervalMs: number;
  lastPollAt: string;
}) {
  return (
    <Box flexDirection="column">
      {report ? <StatusScreen report={report} /> : <Text>waiting for the first answer…</Text>}
      <Text color="gray">
        watching every {intervalMs / 1000} s · poll {polls} at {lastPollAt} · Ctrl-C stops
      </Text>
      {error ? <Text color="red">last poll failed: {error} (retrying)</Text> : null}
    </Box>
  );
}
