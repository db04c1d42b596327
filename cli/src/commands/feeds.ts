import { Command, InvalidArgumentError } from "commander";
import { type FeedRow, type OpsBackend, openBackend } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput, type Output } from "../output.ts";

function feedId(value: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new InvalidArgumentError("a feed id is a positive whole number");
  return id;
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
    .description("the feeds inbound-dock polls: list, add, remove, pause, resume")
    .addHelpText(
      "after",
      `
Examples:
  opsctl feeds list
  opsctl feeds add https://www.sec.gov/news/pressreleases.rss --name "SEC press releases" --tag sec
  opsctl feeds pause 3        stop polling feed 3 (its stored events stay)
  opsctl feeds resume 3       poll it again from the next run, backoff cleared
  opsctl feeds remove 3       delete it (stored events stay, without a feed)
  opsctl feeds list --json`,
    );

  feeds
    .command("list")
    .description("every feed with its health: last success, failures, next fetch, last error")
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
    .addHelpText(
      "after",
      "\nExamples:\n  opsctl feeds add https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&type=8-K&output=atom --name 'SEC 8-K' --tag sec",
    )
    .action(
      async (url: string, options: { name?: string; tag?: string[]; terms?: string }, command: Command) => {
        await run(command, async (backend, out) => {
          const feed = await backend.addFeed({
            url,
            name: options.name ?? feedNameFromUrl(url),
            tags: options.tag ?? [],
            terms: options.terms ?? null,
          });
          out.result({ feed }, () => `added feed ${feed.id}\n${feedLine(feed)}`);
        });
      },
    );

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

/** A feed added without --name is named after its host (addFeed still validates the URL). */
function feedNameFromUrl(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}
