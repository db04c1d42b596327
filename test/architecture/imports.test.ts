import assert from "node:assert/strict";
import path from "node:path";
import { findViolations, placeOf, readTree } from "./floors.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

describe("architecture: who may import whom (floors in test/architecture/floors.ts)", () => {
  it("finds no import across a floor it may not cross anywhere in cli/, services/ and stack/", () => {
    const files = readTree(ROOT);
    assert.ok(files.size > 100, `read ${files.size} files: is the tree where the test thinks?`);
    const violations = findViolations(files);
    assert.deepEqual(
      violations.map((v) => `${v.file} imports ${v.imports} (${v.rule})`),
      [],
      "move the code to the floor that may import it (docs/architecture.md, 'Floors')",
    );
  });

  it("fails a file of services/common/ that imports a stage, statically or dynamically", () => {
    const files = new Map([
      ["services/common/fresh.ts", 'import { paperPortfolio } from "../dispatcher/portfolio.ts";\n'],
      ["services/common/ops/late.ts", 'export const load = () => import("../../watchdog/checks.ts");\n'],
    ]);
    assert.deepEqual(
      findViolations(files).map((v) => [v.file, v.imports, v.rule]),
      [
        ["services/common/fresh.ts", "services/dispatcher/portfolio.ts", "common → stage dispatcher"],
        ["services/common/ops/late.ts", "services/watchdog/checks.ts", "common → stage watchdog"],
      ],
    );
  });

  it("fails a command that reaches into a stage, and a stage that imports another stage", () => {
    const files = new Map([
      [
        "cli/src/commands/feeds.ts",
        'import type { FeedRow } from "../../../services/inbound-dock/feeds.ts";\n',
      ],
      ["services/dispatcher/x.ts", 'export { nyse } from "../watchdog/market-hours.ts";\n'],
      ["services/ops/feeds.ts", 'import { listFeeds } from "../inbound-dock/feeds.ts";\n'],
      ["cli/src/commands/ok.ts", 'import { listFeeds } from "../../../services/ops/feeds.ts";\n'],
    ]);
    assert.deepEqual(
      findViolations(files).map((v) => v.rule),
      ["cli → stage inbound-dock", "stage dispatcher → stage watchdog"],
    );
  });

  it("places every folder of services/ on a floor, so a new folder cannot slip past the rules", () => {
    const folders = new Set(
      [...readTree(ROOT).keys()]
        .filter((f) => f.startsWith("services/"))
        .map((f) => f.split("/").slice(0, 2).join("/")),
    );
    const unplaced = [...folders].filter(
      (folder) => folder !== "services/registry.ts" && placeOf(`${folder}/x.ts`) === null,
    );
    assert.deepEqual(unplaced, []);
  });
});
