import { Command, InvalidArgumentError } from "commander";
import { STAGE_TABLE } from "../../../services/common/stages.ts";
import { formatPollDuration, parsePollDuration } from "../../../services/ops/feeds.ts";
import { type FeedIntervalChange, type FeedRow, type OpsBackend, openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput, type Output } from "../output.ts";

function feedId(value: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new InvalidArgumentError("a feed id is a positive whole number");
  return id;
}

/**
 * DURATION|default: whole seconds, minutes or hours. The bounds are the target's (its ingest's
 * floor and ceiling), checked where the interval is set, so an AWS stack's own hold there.
 */
function pollDuration(value: string): number | null {
  if (value.trim().toLowerCase() === "default") return null;
  const ms = parsePollDuration(value);
  if (ms === null)
    throw new InvalidArgumentError(
      "a duration in whole seconds, minutes or hours (30s, 2m, 1h), or `default` to clear it",
    );
  return ms;
}

/** inbound-dock's schedule on AWS (EventBridge goes no lower than a minute). */
const AWS_INGEST_EVERY_MS =
  STAGE_TABLE["inbound-dock"].cadence.kind === "every"
    ? STAGE_TABLE["inbound-dock"].cadence.intervalMs
    : 60_000;

/** What an interval below the AWS schedule means there, or null when it holds on both targets. */
function awsCaveat(intervalMs: number): string | null {
  if (intervalMs >= AWS_INGEST_EVERY_MS) return null;
  const every = formatPollDuration(AWS_INGEST_EVERY_MS);
  return `an interval below ${every} only takes effect on a local stack: on AWS ingest runs every ${every}, so there this feed is polled every ${every}`;
}

/** The interval the feed's next fetch is scheduled with and why, and an operator setting not yet used. */
function intervalText(feed: FeedRow): string {
  const operator = feed.operator_interval_ms;
  if (feed.interval_ms === null || feed.interval_source === null) {
    return operator === null
      ? "interval default (from its first fetch)"
      : `interval ${formatPollDuration(operator)} (operator, from its first fetch)`;
  }
  const used = `interval ${formatPollDuration(feed.interval_ms)} (${feed.interval_source})`;
  if (operator !== null && (feed.interval_source !== "operator" || operator !== feed.interval_ms))
    return `${used}; operator set ${formatPollDuration(operator)}, from the next fetch`;
  if (operator === null && feed.interval_source === "operator")
    return `${used}; operator setting cleared, from the next fetch`;
  return used;
}

function iso(ms: number | null): string {
  return ms === null ? "-" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function feedLine(feed: FeedRow): string {
  const state = !feed.enabled
    ? "paused"
    : feed.consecutive_failures > 0
      ? `failing×${feed.consecutive_failures}`
      : "ok";
  const lines = [
    `${String(feed.id).padStart(4)}  ${state.padEnd(10)} ${feed.name}${feed.tags.length ? `  [${feed.tags.join(", ")}]` : ""}`,
    `      ${feed.url}`,
    `      last success ${iso(feed.last_success_at)}  next fetch ${iso(feed.next_fetch_at)}  new last run ${feed.items_new_last}`,
    `      ${intervalText(feed)}`,
  ];
  if (feed.last_error && feed.consecutive_failures > 0)
    lines.push(`      last error ${iso(feed.last_error_at)}: ${feed.last_error}`);
  return lines.join("\n");
}

/** Runs `work` on the target's backend (local database, or the AWS stack's ops-api), then closes it. */
async function run(
  command: Command,
  work: (backend: OpsBackend, out: Output) => Promise<void>,
): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const out = createOutput({ json: globals.json === true });
  const backend = await openBackend(cliContext(globals), {
    // The local-stack rule (docs/opsctl.md): listing never starts a server; changes may.
    access: command.name() === "list" ? "read" : "write",
  });
  try {
    await work(backend, out);
  } finally {
    await backend.close();
  }
}

export function feedsCommand(): Command {
  const feeds = new Command("feeds")
    .description("the feeds inbound-dock polls: list, add, remove, pause, resume, interval")
    .addHelpText(
      "after",
      `
Examples:
  opsctl feeds list
  opsctl feeds add https://www.sec.gov/news/pressreleases.rss --name "SEC press releases" --tag sec
  opsctl feeds interval 3 30s poll feed 3 every 30 s (\`default\` clears it)
  opsctl feeds pause 3        stop polling feed 3 (its stored events stay)
  opsctl feeds resume 3       poll it again from the next run, backoff cleared
  opsctl feeds remove 3       delete it (stored events stay, without a feed)
  opsctl feeds list --json`,
    );

  feeds
    .command("list")
    .description(
      "every feed with its health: last success, failures, next fetch, its interval and why, last error",
    )
    .addHelpText("after", "\nExamples:\n  opsctl feeds list\n  opsctl feeds list --json")
    .action(async (_options: unknown, command: Command) => {
      await run(command, async (backend, out) => {
        const rows = await backend.listFeeds();
        out.result({ feeds: rows }, () =>
          rows.length
            ? rows.map(feedLine).join("\n")
            : "no feeds: add one with `opsctl feeds add URL --name NAME`",
        );
      });
    });

  feeds
    .command("add")
    .description("add a feed (enabled, fetched on the next run)")
    .argument("<url>", "the feed's http(s) URL")
    .option("--name <name>", "a short human name (default: the URL's host)")
    .option("--tag <tag>", "a tag (repeatable)", (value: string, previous: string[] = []) => [
      ...previous,
      value,
    ])
    .option("--terms <text>", "the publisher's terms of use, for the record")
    .option(
      "--interval <duration>",
      "poll it at this interval (30s, 2m, 1h) instead of the default, within the target's bounds",
      pollDuration,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  opsctl feeds add https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&type=8-K&output=atom --name 'SEC 8-K' --tag sec --interval 30s",
    )
    .action(
      async (
        url: string,
        options: { name?: string; tag?: string[]; terms?: string; interval?: number | null },
        command: Command,
      ) => {
        await run(command, async (backend, out) => {
          const feed = await backend.addFeed({
            url,
            name: options.name ?? feedNameFromUrl(url),
            tags: options.tag ?? [],
            terms: options.terms ?? null,
            pollIntervalMs: options.interval ?? null,
          });
          const caveat = feed.operator_interval_ms === null ? null : awsCaveat(feed.operator_interval_ms);
          out.result({ feed }, () =>
            [`added feed ${feed.id}`, feedLine(feed), ...(caveat ? [`note: ${caveat}`] : [])].join("\n"),
          );
        });
      },
    );

  feeds
    .command("interval")
    .description(
      "set a feed's own poll interval (above its <ttl>, Cache-Control and the default), or clear it",
    )
    .argument("<id>", "the feed id (see `opsctl feeds list`)", feedId)
    .argument(
      "<duration>",
      "30s, 2m, 1h ... within the target's bounds, or `default` to clear it",
      pollDuration,
    )
    .addHelpText(
      "after",
      `
The target's ingest keeps every interval within its floor and ceiling (OPS_INBOUND_POLL_FLOOR_MS,
OPS_INBOUND_POLL_CEILING_MS; 10s and 1h by default); a duration outside them is refused.
On AWS ingest runs once a minute, so an interval below a minute only takes effect locally.

Examples:
  opsctl feeds interval 3 30s
  opsctl feeds interval 3 default
  opsctl feeds interval 3 2m --json`,
    )
    .action(async (id: number, intervalMs: number | null, _options: unknown, command: Command) => {
      await run(command, async (backend, out) => {
        const change = await backend.setFeedInterval(id, intervalMs);
        const caveat = awsCaveat(change.effective.intervalMs);
        out.result({ ...change, awsIngestEveryMs: AWS_INGEST_EVERY_MS }, () =>
          intervalReport(change, caveat),
        );
      });
    });

  for (const [name, description] of [
    ["remove", "delete a feed; events it stored stay"],
    ["pause", "stop polling a feed"],
    ["resume", "poll a paused or failing feed again from the next run"],
  ] as const) {
    feeds
      .command(name)
      .description(description)
      .argument("<id>", "the feed id (see `opsctl feeds list`)", feedId)
      .addHelpText("after", `\nExamples:\n  opsctl feeds ${name} 3\n  opsctl feeds ${name} 3 --json`)
      .action(async (id: number, _options: unknown, command: Command) => {
        await run(command, async (backend, out) => {
          const feed = await backend.changeFeed(name, id);
          const verb = name === "remove" ? "removed" : name === "pause" ? "paused" : "resumed";
          out.result({ [verb]: feed }, () => `${verb} feed ${feed.id} (${feed.name})`);
        });
      });
  }
  return feeds;
}

function intervalReport(change: FeedIntervalChange, caveat: string | null): string {
  const { feed, effective } = change;
  const lines = [
    `feed ${feed.id} (${feed.name}): polled every ${formatPollDuration(effective.intervalMs)} (${effective.source}) from its next fetch (${feed.next_fetch_at === null ? "due now" : iso(feed.next_fetch_at)})`,
  ];
  if (effective.source !== "operator" && feed.operator_interval_ms === null)
    lines.push("  operator setting cleared: its <ttl>, Cache-Control or the default decide again");
  if (caveat) lines.push(`  note: ${caveat}`);
  return lines.join("\n");
}

/** A feed added without --name is named after its host (addFeed still validates the URL). */
function feedNameFromUrl(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}
