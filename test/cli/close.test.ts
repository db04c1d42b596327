import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import * as z from "zod";
import { sql } from "../../services/common/db.ts";
import { useTestDatabase } from "../helpers/db.ts";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");

async function opsctl(url: string, args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, ["--import", "tsx", "cli/src/main.ts", ...args], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: "silent" },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string };
    return { code: failed.code, stdout: failed.stdout };
  }
}

const exitRow = z.object({
  ticker: z.string(),
  reason: z.string(),
  status: z.string(),
  requested_by: z.string(),
  note: z.string().nullable(),
});

describe("opsctl close", () => {
  const db = useTestDatabase();
  const exits = () =>
    db.pool.any(
      sql.type(exitRow)`SELECT ticker, reason, status, requested_by, note FROM dispatch_exits ORDER BY id`,
    );

  before(async () => {
    const at = sql.timestamp(new Date("2026-12-01T15:00:00Z"));
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_accounts (account, starting_cash, cash, created_at, updated_at)
      VALUES ('dry-run', 100000, 99000, ${at}, ${at})`);
    await db.pool.query(sql.unsafe`
      INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
      VALUES ('dry-run', 'AAPL', 10, 100, ${at}, ${at}), ('dry-run', 'MSFT', 2, 400, ${at}, ${at})`);
  });

  it("refuses without a terminal and without --yes (money moves), queuing nothing", async () => {
    const { code, stdout } = await opsctl(db.url, ["close", "AAPL", "--json"]);
    assert.equal(code, 2);
    assert.equal((JSON.parse(stdout) as { error: { code: string } }).error.code, "CONFIRMATION_REQUIRED");
    assert.deepEqual(await exits(), []);
  });

  it("refuses a ticker not held, queuing nothing", async () => {
    const { code, stdout } = await opsctl(db.url, ["close", "AAPL", "NVDA", "--yes", "--json"]);
    assert.equal(code, 2);
    assert.equal((JSON.parse(stdout) as { error: { code: string } }).error.code, "NOT_HELD");
    assert.deepEqual(await exits(), []);
  });

  it("queues an operator exit for the dispatcher, recording who and why, and prints what it asked for", async () => {
    const { code, stdout } = await opsctl(db.url, [
      "close",
      "aapl",
      "--reason",
      "earnings tonight",
      "--yes",
      "--json",
    ]);
    assert.equal(code, 0);
    const report = JSON.parse(stdout) as {
      account: string;
      requested: { ticker: string; quantity: number }[];
      by: string;
    };
    assert.equal(report.account, "dry-run");
    assert.deepEqual(
      report.requested.map((r) => [r.ticker, r.quantity]),
      [["AAPL", 10]],
    );
    const [row] = await exits();
    assert.deepEqual(
      { ...row, requested_by: undefined },
      {
        ticker: "AAPL",
        reason: "operator",
        status: "PENDING",
        requested_by: undefined,
        note: "earnings tonight",
      },
    );
    assert.equal(row?.requested_by, report.by);
    assert.match(report.by, /@/);
  });

  it("--all queues the rest and leaves an exit already waiting as it is", async () => {
    const { code, stdout } = await opsctl(db.url, ["close", "--all", "--yes"]);
    assert.equal(code, 0);
    assert.match(stdout, /sell 2 MSFT at market \(dry-run\)/);
    assert.match(stdout, /AAPL: exit #\d+ is already waiting/);
    assert.deepEqual(
      (await exits()).map((e) => e.ticker),
      ["AAPL", "MSFT"],
    );
  });
});
