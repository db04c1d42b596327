// `npm run eval -- stories`: how many items collapse into how many stories under ingest's rule
// (services/inbound-dock/stories.ts), beside the baseline of exact-title grouping, on
// 1. the synthetic syndication set (eval/stories-cases.ts: releases through three local feeds with
//    small title edits, and look-alike news that is another event), with pairwise precision/recall;
// 2. the real feed corpus (../shared/corpus/feeds, or OPS_CORPUS_DIR/feeds): every file a feed, its
//    stored items in order; the corpus has no truth labels, so every collapse is printed to be read.
import { existsSync } from "node:fs";
import path from "node:path";
import { groupInMemory } from "../services/inbound-dock/stories.ts";
import { evaluateStories, type GroupingFigures, loadCorpusItems } from "./stories-cases.ts";

const corpusRoot =
  process.env.OPS_CORPUS_DIR ?? path.join(import.meta.dirname, "..", "..", "shared", "corpus");
const feedsDir = path.join(corpusRoot, "feeds");

const row = (name: string, f: GroupingFigures) =>
  `${name.padEnd(28)} ${String(f.items).padStart(5)} ${String(f.stories).padStart(7)}   ${f.pairPrecision.toFixed(3)}     ${f.pairRecall.toFixed(3)}`;

const synthetic = evaluateStories();
console.log("synthetic syndication set (eval/stories-cases.ts)");
console.log(`truth: ${synthetic.truth.items} items, ${synthetic.truth.stories} stories`);
console.log(`${"grouping".padEnd(28)} items stories   precision recall (same-story pairs)`);
console.log(row("ingest's rule", synthetic.ours));
console.log(row("baseline: exact title", synthetic.baseline));

if (!existsSync(feedsDir)) {
  console.error(
    `\nfeed corpus absent at ${feedsDir}: set OPS_CORPUS_DIR or put ../shared/corpus beside the repo`,
  );
  process.exit(2);
}
const items = await loadCorpusItems(feedsDir);
const ours = groupInMemory(items);
// The baseline: byte-equal (trimmed) titles are one story, whatever the feed or the time.
const baselineKeys = items.map((item) => item.title.trim());
console.log(
  `\nfeed corpus (${feedsDir}): ${items.length} stored items from ${new Set(items.map((i) => i.feedId)).size} feeds`,
);
console.log(`ingest's rule:          ${items.length} items -> ${new Set(ours).size} stories`);
console.log(`baseline: exact title:  ${items.length} items -> ${new Set(baselineKeys).size} stories`);
const baselineFeeds = new Map<string, number[]>();
items.forEach((item, index) => {
  const key = baselineKeys[index] ?? "";
  baselineFeeds.set(key, [...(baselineFeeds.get(key) ?? []), item.feedId]);
});
const sameFeedMerges = [...baselineFeeds.values()].filter(
  (feeds) => new Set(feeds).size < feeds.length,
).length;
console.log(
  `  (the baseline's stories that hold two items of one feed, e.g. eleven "8-K - Current report" filings of one company: ${sameFeedMerges}; ingest's rule never joins items of one feed)`,
);
const groups = new Map<number, number[]>();
ours.forEach((story, index) => {
  const members = groups.get(story) ?? [];
  members.push(index);
  groups.set(story, members);
});
const collapsed = [...groups.values()].filter((members) => members.length > 1);
console.log(`stories with more than one item under ingest's rule: ${collapsed.length}`);
for (const members of collapsed) {
  console.log("  story:");
  for (const index of members) {
    const item = items[index];
    if (item) console.log(`    ${item.file}: ${item.title}`);
  }
}
console.log("\nreproduce: npm run eval -- stories   (OPS_CORPUS_DIR=/path/to/corpus to point at the corpus)");
