import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { priceStack } from "../../stack/cost.ts";
import { stackPlan } from "../../stack/plan.ts";
import { devConfig } from "../stack/harness.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const BIN = path.join(ROOT, "cli", "bin", "opsctl.js");

interface CostJson {
  stack: string;
  totalUsd: number;
  listUsd: number;
  bestCaseUsd: number;
  budgetUsd: number;
  withinBudget: boolean;
  lines: { item: string; basis: string; monthlyUsd: number }[];
  moves: { change: string; totalUsd: number; deltaUsd: number; tradeOff: string }[];
}

describe("opsctl cost (the built binary)", function () {
  this.timeout(120_000);
  let dir: string;

  const opsctl = (args: string[], cwd = ROOT) =>
    spawnSync(process.execPath, [BIN, ...args], {
      cwd,
      encoding: "utf8",
      timeout: 60_000,
      env: { PATH: process.env.PATH ?? "", HOME: os.homedir(), NO_COLOR: "1" },
    });

  before(async () => {
    const build = spawnSync(
      process.execPath,
      [path.join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"), "scripts/build.ts"],
      { cwd: ROOT, encoding: "utf8" },
    );
    assert.equal(build.status, 0, build.stderr);
    dir = await mkdtemp(path.join(os.tmpdir(), "opsctl-cost-"));
    const dev = await readFile(path.join(ROOT, "Pulumi.dev.yaml"), "utf8");
    await writeFile(
      path.join(dir, "Pulumi.roomy.yaml"),
      dev.replace(/monthlyBudgetUsd: \d+/, "monthlyBudgetUsd: 1000"),
    );
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("prints the dev stack's cost as JSON, the model's total, and exits 3 when it is over budget", () => {
    const expected = priceStack(stackPlan(devConfig()));
    const run = opsctl(["cost", "--json"]);
    const body = JSON.parse(run.stdout) as CostJson;
    assert.equal(body.stack, "dev");
    assert.equal(body.totalUsd, expected.totalUsd);
    assert.equal(body.budgetUsd, devConfig().monthlyBudgetUsd);
    assert.equal(body.bestCaseUsd, expected.bestCaseUsd);
    assert.equal(body.listUsd, expected.listUsd);
    assert.equal(body.withinBudget, expected.withinBudget);
    assert.equal(body.lines.length, expected.lines.length);
    assert.ok(body.lines.some((line) => /ops-api/.test(line.item)));
    for (const line of body.lines) {
      assert.equal(typeof line.item, "string");
      assert.equal(typeof line.basis, "string");
      assert.ok(Number.isFinite(line.monthlyUsd));
    }
    assert.ok(body.moves.length > 0);
    for (const move of body.moves) assert.ok(Number.isFinite(move.deltaUsd) && move.tradeOff.length > 0);
    assert.equal(run.status, expected.withinBudget ? 0 : 3, run.stderr);
  });

  it("exits 0 for a stack within its budget and prints the text report without --json", () => {
    const run = opsctl(["cost", "--stack", "roomy", "--dir", dir]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /Monthly cost of stack "roomy"/);
    assert.match(run.stdout, /within budget/);
  });

  it("exits 2 with a JSON error naming the file when the stack file does not exist", () => {
    const run = opsctl(["cost", "--stack", "nope", "--dir", dir, "--json"]);
    assert.equal(run.status, 2);
    const body = JSON.parse(run.stdout) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "STACK_FILE_MISSING");
    assert.match(body.error.message, /Pulumi\.nope\.yaml not found/);
  });
});
