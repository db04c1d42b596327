// `tsx scripts/derive-name-words.ts [--words FILE] [--sec FILE]`: writes
// services/sortation/data/name-words.json, the English dictionary words that are also a word of
// some company name in the SEC list, common words and proper nouns apart. The ticker extractor never finds a company by one such word
// alone ("Monday" is not monday.com, "Highest" is not Highest Performances, "Price" is not
// T. Rowe Price). Derived, not edited: rerun after `opsctl tickers refresh`.
// The dictionary is Debian's `wamerican` (SCOWL, permissive licence): apt-get install wamerican.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const arg = (name: string, fallback: string) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
};
const wordsFile = arg("--words", "/usr/share/dict/american-english");
const secFile = arg(
  "--sec",
  path.resolve(ROOT, "../shared/corpus/reference/sec_company_tickers_exchange.json"),
);

const wordsText = readFileSync(wordsFile, "utf8");
// Lower-case entries are common words; capitalised ones are proper nouns (names, places, and
// brands: the dictionary knows Netflix and Tesla, so a proper noun alone does not disqualify).
const common = new Set<string>();
const proper = new Set<string>();
for (const line of wordsText.split("\n")) {
  const word = line.trim();
  if (word.length < 2 || /['’]/.test(word)) continue; // possessives ("Monday's") add nothing
  (/^[a-z]/.test(word) ? common : proper).add(word.toUpperCase());
}
const sec = JSON.parse(readFileSync(secFile, "utf8")) as { fields: string[]; data: unknown[][] };
const nameAt = sec.fields.indexOf("name");
const nameWords = new Set<string>();
for (const row of sec.data) {
  const name = row[nameAt];
  if (typeof name !== "string") continue;
  for (const token of name.toUpperCase().match(/[A-Z0-9]+/g) ?? []) nameWords.add(token);
}
const words = [...nameWords].filter((w) => common.has(w)).sort();
const properNouns = [...nameWords].filter((w) => proper.has(w) && !common.has(w)).sort();
const out = {
  source: `${path.basename(wordsFile)} (Debian wamerican) ∩ words of ${path.basename(secFile)}`,
  sourceSha256: createHash("sha256").update(wordsText).digest("hex"),
  derivedBy: "scripts/derive-name-words.ts",
  /** Common English words: never a company alone. */
  words,
  /** Proper nouns (first names, places, brands): never a company's short form alone. */
  properNouns,
};
const target = path.join(ROOT, "services/sortation/data/name-words.json");
writeFileSync(target, `${JSON.stringify(out, null, 0).replace(/","/g, '", "')}\n`);
console.log(
  `wrote ${words.length} common words and ${properNouns.length} proper nouns to ${path.relative(ROOT, target)}`,
);
