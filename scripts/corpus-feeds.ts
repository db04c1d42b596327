// `npm run corpus:feeds -- [FOLDER]`: every feed file of FOLDER (default ../shared/corpus/feeds)
// through the inbound-dock parser, beside plain rss-parser and what each file's source expects.
import { existsSync } from "node:fs";
import path from "node:path";
import { analyseCorpus } from "./lib/feed-corpus.ts";

const folder = path.resolve(
  process.argv[2] ?? path.join(import.meta.dirname, "..", "..", "shared", "corpus", "feeds"),
);
if (!existsSync(folder)) {
  console.error(`corpus:feeds: no folder at ${folder}; pass one: npm run corpus:feeds -- PATH`);
  process.exit(2);
}
const report = await analyseCorpus(folder);
const cut = (text: string | undefined, width: number) => {
  const flat = (text ?? "").replace(/\s+/g, " ");
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
};
console.log(`corpus: ${folder}\n`);
console.log(
  `${"file".padEnd(58)} ${"ours".padStart(5)} ${"store".padStart(5)} ${"plain".padStart(6)}  checks  notes`,
);
for (const f of report.files) {
  const ours = "error" in f.ours ? "ERR" : String(f.ours.items);
  const stored = "error" in f.ours ? "-" : String(f.ours.stored);
  const plain = "error" in f.plain ? "ERR" : String(f.plain.items);
  const passed = f.checks.filter((c) => c.ok).length;
  const checkText = f.checks.length ? `${passed}/${f.checks.length}` : "-";
  const notes: string[] = [];
  if ("error" in f.ours) notes.push(`ours: ${cut(f.ours.error, 70)}`);
  else {
    if (f.ours.charset !== "utf-8") notes.push(f.ours.charset);
    if (f.ours.repairs.length) notes.push(`repaired: ${f.ours.repairs.join(",")}`);
    if (f.ours.duplicates) notes.push(`${f.ours.duplicates} dup`);
    notes.push(`"${cut(f.ours.title0 ?? f.ours.feedTitle, 50)}"`);
  }
  if ("error" in f.plain) notes.push(`plain: ${cut(f.plain.error, 40)}`);
  console.log(
    `${cut(f.file, 58).padEnd(58)} ${ours.padStart(5)} ${stored.padStart(5)} ${plain.padStart(6)}  ${checkText.padStart(6)}  ${notes.join("; ")}`,
  );
  for (const c of f.checks.filter((check) => !check.ok)) {
    console.log(
      `${"".padEnd(60)}✗ ${c.what}: expected ${JSON.stringify(c.expected)}, got ${JSON.stringify(c.actual)}`,
    );
  }
}
const t = report.totals;
console.log(
  `\nread ${t.readByUs}/${t.files} files (plain rss-parser ${t.readByPlain}/${t.files}); ` +
    `items ${t.itemsUs} (plain ${t.itemsPlain}); recovered ${t.recovered} files plain rss-parser throws on; ` +
    `expectation checks passed ${t.checksPassed}/${t.checks}`,
);
if (t.unread.length) console.log(`not read (${t.unread.length}):\n  ${t.unread.join("\n  ")}`);
