// `npm run eval [-- NAME]`: runs every eval/*.eval.ts (or those whose name contains NAME), each in
// its own process, so one evaluation's models and caches cannot leak into the next. Each prints its
// quality figures beside a baseline computed in the same run, and the command that reproduces them.
// The data sets come from ../shared/corpus (never copied into the repo); an evaluation whose data is
// absent says so and exits 2.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";

const dir = import.meta.dirname;
// Names select evaluations; everything from the first `--flag` on is passed to each of them.
const args = process.argv.slice(2);
const firstFlag = args.findIndex((arg) => arg.startsWith("--"));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : args.slice(firstFlag);
const available = readdirSync(dir)
  .filter((name) => name.endsWith(".eval.ts"))
  .sort();
const files = available.filter((name) => wanted.length === 0 || wanted.some((w) => name.includes(w)));
if (files.length === 0) {
  const names = available.map((name) => name.replace(/\.eval\.ts$/, "")).join(", ");
  console.error(`no evaluation matched ${wanted.join(" ")}; available: ${names || "none"}`);
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  console.log(`\n# ${file}`);
  const result = spawnSync(process.execPath, ["--import", "tsx", path.join(dir, file), ...flags], {
    stdio: "inherit",
  });
  if (result.status !== 0) failed += 1;
}
process.exit(failed === 0 ? 0 : 1);
