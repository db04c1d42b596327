import { Box, Text } from "ink";
import type { Level } from "../../../services/common/health.ts";
import type { PipelineCounts } from "../../../services/ops/status.ts";

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
            <Text color={stage.ok === null ? "gray" : stage.ok ? "green" : "red"}>
              {stage.ok === null ? "·" : stage.ok ? "✓" : "✗"}
            </Text>{" "}
            {stage.name.padEnd(16)}{" "}
            {stage.kind === "loop" ? "loop     " : `${String(stage.runs).padStart(4)} runs`}
            {stage.failures > 0 ? <Text color="red"> {stage.failures} failed</Text> : null}
            {stage.lastRunAt ? ` · last ${stage.lastRunAt}` : ""}
            {stage.lastDurationMs === null ? "" : ` ${stage.lastDurationMs} ms`}
            {stage.last ? ` · ${stage.last}` : ""}
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
