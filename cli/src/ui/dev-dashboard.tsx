import { Box, Text } from "ink";
import type { Level } from "../../../services/common/health.ts";
import type { PipelineCounts } from "../../../services/ops/status.ts";
import type { DashboardProblems } from "../dashboard-queries.ts";

export interface StageRow {
  name: string;
  kind: "scheduled" | "loop";
  runs: number;
  failures: number;
  lastRunAt: string | null;
  lastDurationMs: number | null;
  /** The last run's result (scheduled) or error, one line. */
  last: string | null;
  ok: boolean | null;
  /** The run succeeded but did nothing useful (lane-telemetry received no bar): shown as "!". */
  warn?: string | null;
}

/** lane-telemetry's last run, for "no network?" and the providers' last error. */
export interface MarketState {
  tickers: number;
  received: number;
  failed: number;
  firstError: string | null;
}

export interface DashboardState {
  database: string;
  stages: StageRow[];
  counts: PipelineCounts | null;
  demo: { url: string; clock: string; speed: number } | null;
  logFile: string;
  note: string | null;
  /** What sortation scores with (services/sortation/classifier-status.ts), null until it beats. */
  classifier?: { level: Level; message: string } | null;
  problems?: DashboardProblems | null;
  market?: MarketState | null;
  /** OPS_INBOUND_CONTACT is still the placeholder (SEC EDGAR refuses such clients). */
  contactPlaceholder?: boolean;
}

/**
 * Every remote call failing at once is the laptop offline, not six broken feeds: every fetched
 * feed failing and lane-telemetry receiving nothing from any provider.
 */
export function looksOffline(state: Pick<DashboardState, "problems" | "market">): boolean {
  const { problems, market } = state;
  if (!problems || problems.fetchedFeeds === 0 || problems.failingCount < problems.fetchedFeeds) return false;
  return !market || (market.received === 0 && market.failed > 0);
}

/** `opsctl dev` on a terminal: each stage's last run and result, row counts, the demo clock. */
export function DevDashboard({ state }: { state: DashboardState }) {
  const { counts } = state;
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>ops-pipeline dev</Text> · {state.database} database · logs {state.logFile} · Ctrl-C stops
      </Text>
      {state.demo ? (
        <Text color="cyan">
          demo day at {state.demo.speed}× · demo clock {state.demo.clock} · sample data from {state.demo.url}
        </Text>
      ) : null}
      <Box marginTop={1} flexDirection="column">
        {state.stages.length === 0 ? (
          <Text color="yellow">no stages registered yet (services/registry.ts loadStages() is empty)</Text>
        ) : null}
        {state.stages.map((stage) => (
          <Text key={stage.name}>
            <Text color={stage.ok === null ? "gray" : stage.ok ? (stage.warn ? "yellow" : "green") : "red"}>
              {stage.ok === null ? "·" : stage.ok ? (stage.warn ? "!" : "✓") : "✗"}
            </Text>{" "}
            {stage.name.padEnd(16)}{" "}
            {stage.kind === "loop" ? "loop     " : `${String(stage.runs).padStart(4)} runs`}
            {stage.failures > 0 ? <Text color="red"> {stage.failures} failed</Text> : null}
            {stage.lastRunAt ? ` · last ${stage.lastRunAt}` : ""}
            {stage.lastDurationMs === null ? "" : ` ${stage.lastDurationMs} ms`}
            {stage.last ? ` · ${stage.last}` : ""}
            {stage.warn ? <Text color="yellow"> · {stage.warn}</Text> : null}
          </Text>
        ))}
      </Box>
      {state.classifier ? (
        <Text>
          sentiment{" "}
          <Text
            color={
              state.classifier.level === "OK" ? "green" : state.classifier.level === "WARN" ? "yellow" : "red"
            }
          >
            {state.classifier.message}
          </Text>
          {state.demo && state.classifier.message.startsWith("lexicon") ? (
            <Text color="gray">
              {" "}
              · the demo's default, for speed (OPS_SORTATION_CLASSIFIER=auto npm run demo for FinBERT)
            </Text>
          ) : null}
        </Text>
      ) : null}
      <Problems state={state} />
      <Box marginTop={1}>
        <Text>
          {counts
            ? `raw ${counts.raw} · classified ${counts.classified} · candles ${counts.candles} · recommendations ${counts.recommendations} (${counts.pending} pending) · executions ${counts.executions}`
            : "counting…"}
        </Text>
      </Box>
      {state.note ? <Text color="gray">{state.note}</Text> : null}
    </Box>
  );
}

/** A run result as one short line: `{fetched: 3, new: 1}` → "fetched=3 new=1". */
export function summarizeResult(result: Record<string, unknown> | undefined): string | null {
  if (!result) return null;
  const parts = Object.entries(result)
    .filter(([, value]) => ["number", "string", "boolean"].includes(typeof value))
    .slice(0, 5)
    .map(([key, value]) => `${key}=${String(value)}`);
  return parts.length > 0 ? parts.join(" ") : null;
}

/** What is wrong, in words, under the stages: nothing when all is well. */
function Problems({ state }: { state: DashboardState }) {
  const problems = state.problems;
  const lines: { key: string; color: "red" | "yellow"; text: string }[] = [];
  if (looksOffline(state))
    lines.push({
      key: "offline",
      color: "red",
      text: "no network? every feed and market-data call is failing",
    });
  for (const feed of problems?.failingFeeds ?? [])
    lines.push({
      key: `feed:${feed.name}`,
      color: "red",
      text: `feed ${feed.name}: ${feed.error} (${feed.failures} failure${feed.failures === 1 ? "" : "s"} in a row)`,
    });
  if (problems && problems.failingCount > problems.failingFeeds.length)
    lines.push({
      key: "more-feeds",
      color: "red",
      text: `… and ${problems.failingCount - problems.failingFeeds.length} more failing feeds (opsctl feeds list)`,
    });
  if (state.market && state.market.failed > 0 && state.market.firstError)
    lines.push({
      key: "market",
      color: state.market.received === 0 ? "red" : "yellow",
      text: `market data: ${state.market.failed} of ${state.market.tickers} tickers failed: ${state.market.firstError}`,
    });
  for (const alert of problems?.alerts ?? [])
    lines.push({
      key: `alert:${alert.check}`,
      color: alert.level === "ERROR" ? "red" : "yellow",
      text: `${alert.level} ${alert.check}: ${alert.message}`,
    });
  if (state.contactPlaceholder)
    lines.push({
      key: "contact",
      color: "yellow",
      text: "OPS_INBOUND_CONTACT is the placeholder: set a real e-mail (SEC EDGAR refuses clients without one)",
    });
  if (lines.length === 0) return null;
  return (
    <Box marginTop={1} flexDirection="column">
      <Text bold>what is wrong</Text>
      {lines.map((line) => (
        <Text key={line.key} color={line.color}>
          {line.text}
        </Text>
      ))}
    </Box>
  );
}
