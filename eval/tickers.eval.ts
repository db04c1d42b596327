// `npm run eval -- tickers [--errors [dev|holdout|all]]`: ticker attribution on the labelled
// Benzinga set of eval/data/tickers (rules in RULES.md), per split, beside a naive baseline
// (cashtags + exact symbols + exact full names) computed in the same run. `--errors` lists the
// headlines the extractor gets wrong (dev split by default: tune on dev, report holdout).
import { findTickers, loadShippedUniverse } from "../services/sortation/tickers.ts";
import { CorpusAbsentError } from "./lib/corpus.ts";
import {
  type LabelledHeadline,
  loadTickerSet,
  naiveExtractor,
  type Scores,
  type Split,
  score,
} from "./lib/ticker-set.ts";

const COMMAND = "npm run eval -- tickers";

function line(name: string, s: Scores): string {
  const f = (x: number) => x.toFixed(3);
  return `${name.padEnd(28)} precision ${f(s.precision)}  recall ${f(s.recall)}  exact-set ${f(s.exactSet)}  (tp ${s.truePositives}, fp ${s.falsePositives}, fn ${s.falseNegatives})`;
}

async function main(): Promise<number> {
  let set: LabelledHeadline[];
  try {
    set = loadTickerSet();
  } catch (error) {
    if (error instanceof CorpusAbsentError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const universe = await loadShippedUniverse();
  const naive = naiveExtractor(universe);
  const args = process.argv.slice(2);
  const errorsAt = args.indexOf("--errors");
  const errorSplit = errorsAt >= 0 ? (args[errorsAt + 1] ?? "dev") : undefined;

  const rows = set.map((item) => ({
    item,
    evidence: findTickers(item.title, universe),
    baseline: naive(item.title),
  }));
  console.log(
    `ticker attribution on ${set.length} labelled headlines (${COMMAND}); snapshot ${universe.snapshot.derivedAt}`,
  );
  for (const split of ["dev", "holdout", "all"] as const) {
    const part = rows.filter((r) => split === "all" || r.item.split === split);
    console.log(`\n${split} (${part.length} headlines)`);
    console.log(
      line(
        "  extractor",
        score(part.map((r) => ({ expected: r.item.expected, predicted: r.evidence.map((e) => e.ticker) }))),
      ),
    );
    console.log(
      line(
        "  naive baseline",
        score(part.map((r) => ({ expected: r.item.expected, predicted: r.baseline }))),
      ),
    );
  }
  if (errorSplit) {
    const wanted = (s: Split) => errorSplit === "all" || errorSplit === s;
    console.log(`\nerrors (${errorSplit}): row [split] title / expected / got (how found)`);
    for (const { item, evidence } of rows) {
      if (!wanted(item.split)) continue;
      const got = evidence.map((e) => e.ticker);
      const same = got.length === item.expected.length && got.every((t) => item.expected.includes(t));
      if (same) continue;
      const how = evidence.map((e) => `${e.ticker}:${e.via}"${e.text}"`).join(" ");
      console.log(
        `${item.row} [${item.split}] ${item.title.trim()}\n    want ${item.expected.join(" ") || "-"}  got ${got.join(" ") || "-"}  ${how}`,
      );
    }
  }
  return 0;
}

process.exitCode = await main();
