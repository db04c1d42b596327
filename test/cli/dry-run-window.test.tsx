import assert from "node:assert/strict";
import { CommanderError } from "commander";
import { render } from "ink-testing-library";
import { parseForOption } from "../../cli/src/commands/dry-run.ts";
import { buildProgram } from "../../cli/src/program.ts";
import { StatusScreen } from "../../cli/src/ui/status-screen.tsx";
import { sql } from "../../services/common/db.ts";
import { OperatorError } from "../../services/common/errors.ts";
import { defaultParams } from "../../services/common/params/definitions.ts";
import { buildStatusReport, readStatusSnapshot, type StatusSnapshot } from "../../services/ops/status.ts";
import { candles, insertCandles } from "../helpers/builders.ts";
import { useTestDatabase } from "../helpers/db.ts";
import { emptyObservations } from "./helpers/observations.ts";

const NOW = new Date("2026-11-24T15:00:00Z");

function snapshot(extra: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    heartbeats: [],
    newest: {
      rawIngestedAt: null,
      classifiedAt: null,
      telemetryTs: null,
      recommendationCreatedAt: null,
      executionExecutedAt: null,
    },
    backlog: {
      unclassified: 0,
      oldestUnclassifiedAt: null,
      parked: 0,
      parkedLastDay: 0,
      pending: 0,
      oldestPendingAt: null,
    },
    executionsToday: 0,
    classifier: null,
    lastBackup: null,
    lastSuccessfulBackupAt: null,
    openAlerts: [],
    paperPnl: "n/a",
    observations: emptyObservations(),
    ...extra,
  };
}

const frameOf = (report: ReturnType<typeof buildStatusReport>) => {
  const { lastFrame, unmount } = render(<StatusScreen report={report} />);
  const frame = lastFrame() ?? "";
  unmount();
  return frame;
};

describe("opsctl dry-run off --for", () => {
  it("reads whole minutes, hours and days, from 1m to 7d", () => {
    assert.deepEqual(parseForOption("30m"), { text: "30m", ms: 30 * 60_000 });
    assert.deepEqual(parseForOption("2h"), { text: "2h", ms: 2 * 3_600_000 });
    assert.deepEqual(parseForOption("1d"), { text: "1d", ms: 86_400_000 });
    assert.equal(parseForOption("7d").ms, 7 * 86_400_000);
    for (const bad of ["", "2", "0m", "1.5h", "-1h", "2w", "2 h", "h", "8d", "169h", "30M", "1e3m"]) {
      assert.throws(() => parseForOption(bad), /whole minutes, hours or days/, JSON.stringify(bad));
    }
  });

  it("refuses a bad duration as a usage error before anything is opened", async () => {
    const argv = ["node", "opsctl", "dry-run", "off", "--for", "2x", "--yes", "--json"];
    await assert.rejects(
      buildProgram(argv).parseAsync(argv),
      (error: unknown) => error instanceof CommanderError && error.code === "commander.invalidArgument",
    );
  });

  it("refuses --for with on or status", async () => {
    for (const action of ["on", "status"]) {
      const argv = ["node", "opsctl", "dry-run", action, "--for", "2h", "--json"];
      await assert.rejects(
        buildProgram(argv).parseAsync(argv),
        (error: unknown) => error instanceof OperatorError && error.code === "BAD_ARGUMENT",
      );
    }
  });
});

describe("opsctl status: the broker window and the shadow portfolio", () => {
  it("shows the time left in a broker window", () => {
    const params = { ...defaultParams(), "dry-run": false, "dry-run-until": "2026-11-24T16:30:00.000Z" };
    const report = buildStatusReport(snapshot(), params, NOW, "local");
    assert.equal(report.dryRun, false);
    assert.deepEqual(report.dryRunWindow, {
      until: "2026-11-24T16:30:00.000Z",
      remainingMs: 90 * 60_000,
      expired: false,
    });
    assert.match(
      frameOf(report),
      /dry-run OFF \(live orders\) until 2026-11-24T16:30:00.000Z \(1h30m left\)/,
    );
  });

  it("shows dry-run ON once the window has ended, before the dispatcher has written it back", () => {
    const params = { ...defaultParams(), "dry-run": false, "dry-run-until": "2026-11-24T14:59:00.000Z" };
    const report = buildStatusReport(snapshot(), params, NOW, "local");
    assert.equal(report.dryRun, true);
    assert.equal(report.dryRunWindow?.expired, true);
    assert.match(frameOf(report), /dry-run ON \(broker window ended 2026-11-24T14:59:00.000Z/);
  });

  it("puts the broker's account and its shadow side by side", () => {
    const report = buildStatusReport(
      snapshot({
        shadowComparison: {
          broker: { equityUsd: 100_012.5, cashUsd: 99_000, realisedUsd: 3, unrealisedUsd: 9.5, positions: 2 },
          shadow: { equityUsd: 99_990, cashUsd: 98_990, realisedUsd: -4, unrealisedUsd: -6, positions: 1 },
        },
      }),
      defaultParams(),
      NOW,
      "local",
    );
    const frame = frameOf(report);
    assert.match(frame, /broker vs shadow\s+equity\s+realised\s+unrealised positions/);
    assert.match(frame, /broker \(alpaca-paper\)\s+100012\.50\s+3\.00\s+9\.50\s+2/);
    assert.match(frame, /shadow \(dry-run sim\)\s+99990\.00\s+-4\.00\s+-6\.00\s+1/);
  });

  it("shows no shadow block before either account has a fill", () => {
    assert.doesNotMatch(frameOf(buildStatusReport(snapshot(), defaultParams(), NOW, "local")), /shadow/);
  });

  describe("from the database", () => {
    const db = useTestDatabase();

    it("reads both accounts, marking positions at the newest close", async () => {
      const now = new Date("2026-03-02T16:00:00Z");
      await db.pool.query(sql.unsafe`
        INSERT INTO dispatch_accounts (account, starting_cash, cash, realised_pnl, fees_paid, created_at, updated_at)
        VALUES ('alpaca-paper', 100000, 98985, 0, 0, now(), now()), ('shadow', 100000, 98999.5, -0.5, 0.5, now(), now()),
               ('dry-run', 100000, 50000, 7, 0, now(), now())`);
      await db.pool.query(sql.unsafe`
        INSERT INTO dispatch_positions (account, ticker, quantity, avg_cost, opened_at, updated_at)
        VALUES ('alpaca-paper', 'ACME', 10, 101.5, now(), now()), ('shadow', 'ACME', 10, 100.05, now(), now())`);
      await insertCandles(
        db.pool,
        candles("ACME", { lastStart: new Date("2026-03-02T15:55:00Z"), closes: [102] }),
      );
      const read = await readStatusSnapshot(db.pool, now);
      assert.deepEqual(read.shadowComparison, {
        broker: { equityUsd: 98985 + 1020, cashUsd: 98985, realisedUsd: 0, unrealisedUsd: 5, positions: 1 },
        shadow: {
          equityUsd: 98999.5 + 1020,
          cashUsd: 98999.5,
          realisedUsd: -0.5,
          unrealisedUsd: 10 * (102 - 100.05),
          positions: 1,
        },
      });
      await db.pool.query(sql.unsafe`DELETE FROM dispatch_positions`);
      await db.pool.query(sql.unsafe`DELETE FROM dispatch_accounts`);
      assert.equal((await readStatusSnapshot(db.pool, now)).shadowComparison, null);
    });
  });
});
