import { Box, Static, Text } from "ink";
import type { RecommendationExplanation, RecommendationSummary } from "../../../services/ops/recs.ts";
import { priceChart } from "./chart.ts";
import { recommendationLine } from "./line.ts";

const STATUS_COLOR: Record<RecommendationSummary["status"], string> = {
  PENDING: "yellow",
  EXECUTED: "green",
  REJECTED: "gray",
  FAILED: "red",
};

export function RecommendationRow({
  rec,
  approvalLimitSeconds,
}: {
  rec: RecommendationSummary;
  approvalLimitSeconds?: number | null;
}) {
  return <Text color={STATUS_COLOR[rec.status]}>{recommendationLine(rec, approvalLimitSeconds)}</Text>;
}

export function RecommendationListScreen({
  title,
  recommendations,
  total,
  approvalLimitSeconds,
}: {
  title: string;
  recommendations: readonly RecommendationSummary[];
  total: number;
  /** require-approval is on (pending lists): each unapproved row says until when it waits. */
  approvalLimitSeconds?: number | null;
}) {
  return (
    <Box flexDirection="column">
      <Text bold>
        {title}: {total}
        {total > recommendations.length ? ` (showing ${recommendations.length}; --limit for more)` : ""}
      </Text>
      {recommendations.length === 0 ? <Text color="gray">none</Text> : null}
      {approvalLimitSeconds ? (
        <Text color="yellow">
          require-approval is on: nothing executes until approved (opsctl recs approve|reject ID)
        </Text>
      ) : null}
      {recommendations.map((rec) => (
        <RecommendationRow key={rec.id} rec={rec} approvalLimitSeconds={approvalLimitSeconds ?? null} />
      ))}
    </Box>
  );
}

/** `recs --follow` on a terminal: finished lines in <Static> above one live status line. */
export function FollowScreen({
  lines,
  polls,
  lastPollAt,
  error,
}: {
  lines: readonly RecommendationSummary[];
  polls: number;
  lastPollAt: string | null;
  error: string | null;
}) {
  return (
    <>
      <Static items={[...lines]}>{(rec) => <RecommendationRow key={rec.id} rec={rec} />}</Static>
      <Text color={error ? "red" : "gray"}>
        {error
          ? `poll failed: ${error} (retrying)`
          : `following new recommendations · ${lines.length} shown · ${polls} polls · last ${lastPollAt ?? "-"} · Ctrl-C to stop`}
      </Text>
    </>
  );
}

function formatValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** `recs show ID`: why the engine said what it said, from the stored inputs. */
export function ExplanationScreen({ explanation }: { explanation: RecommendationExplanation }) {
  const { recommendation: rec } = explanation;
  const chart = priceChart(explanation.chart, { markTs: rec.asOf });
  return (
    <Box flexDirection="column">
      <Text bold>
        #{rec.id} {rec.side} {rec.ticker} <Text color={STATUS_COLOR[rec.status]}>{rec.status}</Text> · as of{" "}
        {rec.asOf} · rule {rec.ruleVersion}
      </Text>
      <Text>
        sentiment {rec.sentiment.toFixed(3)} from {rec.eventCount}{" "}
        {explanation.stories ? "story(ies), sources listed under each" : "event(s)"} · close{" "}
        {rec.close.toFixed(2)} vs SMA20 {rec.sma20.toFixed(2)} ({rec.close >= rec.sma20 ? "above" : "below"})
      </Text>
      <Text>
        thresholds{" "}
        {Object.entries(explanation.thresholds)
          .map(([key, value]) => `${key}=${formatValue(value)}`)
          .join(" ")}
      </Text>
      {rec.rejectedGate ? <Text color="gray">rejected by gate {rec.rejectedGate}</Text> : null}
      {rec.approval ? (
        <Text>
          {rec.approval.decision} by {rec.approval.by} at {rec.approval.at}
          {rec.approval.reason ? `: ${rec.approval.reason}` : ""}
        </Text>
      ) : null}
      {rec.error ? <Text color="red">error: {rec.error}</Text> : null}
      <Box marginTop={1} flexDirection="column">
        <Text bold>headlines</Text>
        {explanation.headlines.length === 0 ? <Text color="gray">none named in inputs</Text> : null}
        {explanation.headlines.map((headline, index) => (
          <Box key={headline.eventId} flexDirection="column">
            <Text>
              {headline.score.toFixed(2).padStart(6)} ×{headline.weight.toFixed(2)} #{headline.eventId}{" "}
              {headline.classifier === "lexicon" ? <Text color="yellow">[lexicon, not FinBERT] </Text> : null}
              {headline.title ?? "(event not found)"}
            </Text>
            {headline.tickers.length > 0 ? (
              <Text color="gray">
                {"               tickers "}
                {headline.tickers.map((found) => `${found.ticker} (${found.via} "${found.text}")`).join(", ")}
              </Text>
            ) : null}
            {(explanation.stories?.[index]?.sources ?? []).map((source) => (
              <Text key={source.eventId} color="gray">
                {"".padStart(14)}#{source.eventId} {source.feed ?? "(feed removed)"} {source.link ?? ""}
              </Text>
            ))}
            {(explanation.stories?.[index]?.alsoCarriedBy ?? []).map((sighting) => (
              <Text key={`${sighting.feed}:${sighting.link}`} color="gray">
                {"".padStart(14)}also {sighting.feed ?? "(feed removed)"} {sighting.link} (same link, stored
                once)
              </Text>
            ))}
          </Box>
        ))}
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Text bold>gate decisions</Text>
        {explanation.gateDecisions === null ? (
          <Text color="gray">
            {explanation.rawGateDecisions === null
              ? "not decided yet"
              : JSON.stringify(explanation.rawGateDecisions)}
          </Text>
        ) : (
          explanation.gateDecisions.map((decision) => (
            <Text key={decision.gate}>
              <Text color={decision.passed ? "green" : "red"}>{decision.passed ? "✓" : "✗"}</Text>{" "}
              {decision.gate}
              {decision.detail ? ` ${decision.detail}` : ""}
            </Text>
          ))
        )}
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Text bold>close (*) vs SMA20 (-), | = as of</Text>
        {chart.map((line, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: chart rows are positional
          <Text key={index}>{line}</Text>
        ))}
      </Box>
      {explanation.inputsParsed ? null : (
        <Box marginTop={1} flexDirection="column">
          <Text color="yellow">inputs do not have the expected shape; raw JSON:</Text>
          <Text>{JSON.stringify(explanation.rawInputs, null, 2)}</Text>
        </Box>
      )}
    </Box>
  );
}
