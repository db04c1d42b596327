import { setTimeout as delay } from "node:timers/promises";
import { Command, InvalidArgumentError, Option } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import type { RecommendationSummary } from "../../../services/ops/recs.ts";
import { type OpsBackend, openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput, type Output } from "../output.ts";
import { recommendationLine } from "../ui/line.ts";
import { decisionCommand } from "./recs-approval.ts";

function positiveInt(name: string, max: number) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be 1..${max}`);
    return n;
  };
}

/**
 * --since: an ISO 8601 time, or a duration back from now (90m, 6h, 2d).
 * @throws InvalidArgumentError otherwise.
 */
export function parseSince(text: string, now: Date = new Date()): Date {
  const relative = /^(\d+)(m|h|d)$/.exec(text);
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "m" | "h" | "d"];
    return new Date(now.getTime() - Number(relative[1]) * unit);
  }
  const at = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(at))
    throw new InvalidArgumentError(
      "must be an ISO 8601 time (2026-01-06T14:30:00Z) or a duration (90m, 6h, 2d)",
    );
  return new Date(at);
}

function parseTicker(text: string): string {
  const ticker = text.toUpperCase();
  if (!/^[A-Z][A-Z0-9.-]{0,14}$/.test(ticker))
    throw new InvalidArgumentError("must be a ticker symbol (e.g. AAPL)");
  return ticker;
}

interface ListOptions {
  ticker?: string;
  since?: Date;
  pending?: boolean;
  status?: RecommendationSummary["status"];
  limit: number;
  follow?: boolean;
  intervalMs: number;
}

export function recsCommand(): Command {
  const recs = new Command("recs")
    .description("recommendations: newest, pending, live, or one explained")
    .option("--pending", "only PENDING recommendations (waiting for the dispatcher)")
    .addOption(
      new Option("--status <status>", "only this status").choices([
        "PENDING",
        "EXECUTED",
        "REJECTED",
        "FAILED",
      ]),
    )
    .option("--ticker <symbol>", "only this ticker", parseTicker)
    .option(
      "--since <time>",
      "only rows made at or after this time: ISO 8601, or 90m / 6h / 2d ago",
      (text: string) => parseSince(text),
    )
    .option("--limit <n>", "at most this many rows (newest first)", positiveInt("--limit", 10_000), 50)
    .option("-f, --follow", "keep printing new recommendations as they are created (Ctrl-C stops)")
    .option("--interval-ms <ms>", "poll interval for --follow", positiveInt("--interval-ms", 60_000), 1_000)
    .addHelpText(
      "after",
      `
JSON: {"recommendations":[{id,ticker,side,status,asOf,createdAt,ruleVersion,sentiment,eventCount,
close,sma20,threshold,decidedAt,rejectedGate,error,approval:{decision,by,at,reason}|null}],"total":N};
PENDING lists add "requireApproval":{enabled,maxRecommendationAgeSeconds}; with --follow one object per line.

Examples:
  opsctl recs                       the 50 newest
  opsctl recs --pending --json      what the dispatcher has not decided yet
  opsctl recs --follow              live; new rows appear as the engine writes them
  opsctl recs --ticker AAPL --since 2d --status REJECTED
  opsctl recs | grep REJECTED       in a pipe: one line per row, never wrapped
  opsctl recs show 42               why #42 was made, with its headlines and a price chart
  opsctl recs approve 42            with require-approval on: let the dispatcher decide #42`,
    )
    .action(async (options: ListOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      const backend = await openBackend(cliContext(globals));
      try {
        const status = options.pending ? "PENDING" : options.status;
        const filters = { status, ticker: options.ticker, since: options.since };
        if (options.follow) {
          await follow(backend, out, { ...filters, intervalMs: options.intervalMs });
          return;
        }
        const list = await backend.listRecommendations({ ...filters, limit: options.limit });
        // Pending lists say whether they wait for an operator (require-approval) and until when.
        const requireApproval = status === "PENDING" ? await approvalState(backend) : null;
        const limitSeconds = requireApproval?.enabled ? requireApproval.maxRecommendationAgeSeconds : null;
        const document = requireApproval ? { ...list, requireApproval } : list;
        if (out.json) {
          out.result(document, () => "");
          return;
        }
        if (!out.interactive) {
          // A pipe gets one line per row (grep, awk, wc -l), newest first, never wrapped.
          out.result(document, () =>
            list.recommendations.map((rec) => recommendationLine(rec, limitSeconds)).join("\n"),
          );
          return;
        }
        const [{ renderScreen }, { RecommendationListScreen }, { createElement }] = await Promise.all([
          import("../ui/render.ts"),
          import("../ui/recs-screens.tsx"),
          import("react"),
        ]);
        const title = status ? `${status.toLowerCase()} recommendations` : "recommendations";
        const text = await renderScreen(
          createElement(RecommendationListScreen, { title, ...list, approvalLimitSeconds: limitSeconds }),
        );
        out.result(document, () => text);
      } finally {
        await backend.close();
      }
    });

  recs.addCommand(
    new Command("show")
      .description("explain one recommendation: headlines and scores, close vs SMA20, thresholds, gates")
      .argument("<id>", "the recommendation id", positiveInt("id", Number.MAX_SAFE_INTEGER))
      .addHelpText(
        "after",
        `
JSON: {recommendation, inputsParsed, headlines[{eventId,title,score,weight,label,classifier,modelId,publishedAt}],
stories[{storyId,score,weight,sources[{eventId,feed,link,title}],alsoCarriedBy[{feed,link}]}]|null
(null before rule v2),
thresholds, gateDecisions[{gate,passed,detail}]|null, rawInputs, rawGateDecisions, chart[{ts,close,sma20}]}

Examples:
  opsctl recs show 42
  opsctl recs show 42 --json | jq .headlines`,
      )
      .action(async (id: number, _options: unknown, command: Command) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const out = createOutput({ json: globals.json === true });
        const backend = await openBackend(cliContext(globals));
        try {
          const explanation = await backend.explainRecommendation(id);
          if (!explanation) {
            throw new OperatorError("REC_NOT_FOUND", `no recommendation #${id}`, {
              hint: "list them with opsctl recs (or opsctl recs --pending)",
            });
          }
          if (out.json) {
            out.result(explanation, () => "");
            return;
          }
          const [{ renderScreen }, { ExplanationScreen }, { createElement }] = await Promise.all([
            import("../ui/render.ts"),
            import("../ui/recs-screens.tsx"),
            import("react"),
          ]);
          const text = await renderScreen(createElement(ExplanationScreen, { explanation }));
          out.result(explanation, () => text);
        } finally {
          await backend.close();
        }
      }),
  );
  recs.addCommand(decisionCommand("approve"));
  recs.addCommand(decisionCommand("reject"));
  return recs;
}

/** require-approval and the stale-data limit an unapproved recommendation waits until. */
async function approvalState(
  backend: OpsBackend,
): Promise<{ enabled: boolean; maxRecommendationAgeSeconds: number }> {
  const params = await backend.params().getAll();
  return {
    enabled: params["require-approval"],
    maxRecommendationAgeSeconds: params["max-recommendation-age-seconds"],
  };
}

/** How many existing rows `--follow` shows before the new ones. */
const FOLLOW_BACKLOG = 10;

/**
 * Polls for rows with a larger id than the last one printed. On a terminal an Ink screen keeps
 * printed rows in <Static> above a live line; in a pipe each row is one plain (or JSON) line as
 * it arrives, and nothing else.
 * @throws the first poll's error (later poll errors are shown and retried).
 */
export async function follow(
  backend: OpsBackend,
  out: Output,
  options: {
    status?: RecommendationSummary["status"] | undefined;
    ticker?: string | undefined;
    since?: Date | undefined;
    intervalMs: number;
    signal?: AbortSignal;
  },
): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  options.signal?.addEventListener("abort", stop);
  const filters = { status: options.status, ticker: options.ticker, since: options.since };
  const initial = await backend.listRecommendations({ ...filters, limit: FOLLOW_BACKLOG });
  let lastId = initial.recommendations[0]?.id ?? 0;
  const shown: RecommendationSummary[] = [...initial.recommendations].reverse();
  let polls = 0;
  let lastPollAt: string | null = null;
  let error: string | null = null;

  let redraw: () => void = () => undefined;
  let unmount: () => void = () => undefined;
  const emit = (rec: RecommendationSummary) => {
    if (out.json) process.stdout.write(`${JSON.stringify(rec)}\n`);
    else process.stdout.write(`${recommendationLine(rec)}\n`);
  };
  if (out.interactive) {
    const [{ render }, { FollowScreen }, { createElement }] = await Promise.all([
      import("ink"),
      import("../ui/recs-screens.tsx"),
      import("react"),
    ]);
    const element = () => createElement(FollowScreen, { lines: [...shown], polls, lastPollAt, error });
    const instance = render(element(), { exitOnCtrlC: false, patchConsole: false });
    redraw = () => instance.rerender(element());
    unmount = () => instance.unmount();
  } else {
    for (const rec of shown) emit(rec);
  }
  try {
    while (!controller.signal.aborted) {
      await delay(options.intervalMs, undefined, { signal: controller.signal }).catch(() => undefined);
      if (controller.signal.aborted) break;
      try {
        const next = await backend.listRecommendations({
          ...filters,
          afterId: lastId,
          limit: 500,
        });
        for (const rec of next.recommendations) {
          shown.push(rec);
          lastId = Math.max(lastId, rec.id);
          if (!out.interactive) emit(rec);
        }
        error = null;
      } catch (cause) {
        error = cause instanceof Error ? cause.message : String(cause);
        if (!out.interactive) process.stderr.write(`opsctl: poll failed (${error}); retrying\n`);
      }
      polls += 1;
      lastPollAt = backend.clock.now().toISOString().slice(11, 19);
      redraw();
    }
  } finally {
    redraw();
    unmount();
    process.off("SIGINT", stop);
  }
}
