import assert from "node:assert/strict";
import type { OpsBackend } from "../../cli/src/backend.ts";
import { decide, describeDecision } from "../../cli/src/commands/recs-approval.ts";
import type { ConfirmEnvironment } from "../../cli/src/confirm.ts";
import { OperatorError } from "../../services/common/errors.ts";
import { defaultParams, type Params } from "../../services/common/params/definitions.ts";
import type { ApprovalRequest } from "../../services/ops/approvals.ts";
import type { RecommendationSummary } from "../../services/ops/recs.ts";
import { stubBackend } from "./helpers/stub-backend.ts";

const REC: RecommendationSummary = {
  id: 42,
  ticker: "ACME",
  side: "BUY",
  status: "PENDING",
  asOf: "2026-11-24T14:55:00.000Z",
  createdAt: "2026-11-24T14:55:02.000Z",
  ruleVersion: "v2",
  sentiment: 0.6,
  eventCount: 3,
  close: 100,
  sma20: 98,
  threshold: 0.35,
  decidedAt: null,
  rejectedGate: null,
  error: null,
  approval: null,
};

/** A backend holding one PENDING recommendation; it records the decisions it is asked to make. */
function backendWith(params: Partial<Params>): OpsBackend & { decided: Omit<ApprovalRequest, "now">[] } {
  const decided: Omit<ApprovalRequest, "now">[] = [];
  const all = { ...defaultParams(), ...params };
  const unused = () => Promise.reject(new Error("not used in this test"));
  return stubBackend({
    decided,
    listRecommendations: async (query) => ({
      recommendations: query.afterId !== undefined && query.afterId < REC.id ? [REC] : [],
      total: 1,
    }),
    params: () => ({ kind: "postgres", getAll: async () => all, set: unused }),
    decideRecommendation: async (request) => {
      decided.push(request);
      return {
        id: request.id,
        ticker: REC.ticker,
        side: REC.side,
        decision: request.decision,
        by: request.by,
        at: "2026-11-24T15:00:00.000Z",
        reason: request.reason,
        status: request.decision === "approved" ? "PENDING" : "REJECTED",
      };
    },
  });
}

function confirmer(options: { tty: boolean; answer?: string }): ConfirmEnvironment & { asked: string[] } {
  const env = {
    yes: false,
    tty: options.tty,
    ci: false,
    asked: [] as string[],
    ask: async (message: string, expected: string) => {
      env.asked.push(`${message} [${expected}]`);
      return options.answer === expected;
    },
  };
  return env;
}

const code = (expected: string) => (error: unknown) =>
  error instanceof OperatorError && error.code === expected;
const retry = "opsctl recs approve 42";

describe("opsctl recs approve|reject", () => {
  it("approves without asking while dry-run is on (no money moves), recording who and why", async () => {
    const backend = backendWith({ "require-approval": true });
    const env = confirmer({ tty: true });
    const outcome = await decide(
      backend,
      { id: 42, decision: "approved", reason: "checked" },
      { yes: false, retry, confirm: env, by: "alice@desk" },
    );
    assert.deepEqual(env.asked, []);
    assert.deepEqual(backend.decided, [
      { id: 42, decision: "approved", by: "alice@desk", reason: "checked" },
    ]);
    assert.deepEqual([outcome.approvalRequired, outcome.dryRun], [true, true]);
    assert.match(
      describeDecision(outcome),
      /approved by alice@desk .*\(checked\)\nthe dispatcher decides it next/,
    );
  });

  it("with dry-run off asks to type the ticker, refuses without a terminal and proceeds with --yes", async () => {
    const params = { "require-approval": true, "dry-run": false };
    const wrong = backendWith(params);
    await assert.rejects(
      decide(
        wrong,
        { id: 42, decision: "approved", reason: null },
        { yes: false, retry, confirm: confirmer({ tty: true, answer: "42" }) },
      ),
      code("NOT_CONFIRMED"),
    );
    assert.deepEqual(wrong.decided, [], "nothing recorded when not confirmed");
    const typed = backendWith(params);
    const env = confirmer({ tty: true, answer: "ACME" });
    const outcome = await decide(
      typed,
      { id: 42, decision: "approved", reason: null },
      { yes: false, retry, confirm: env },
    );
    assert.match(
      env.asked[0] ?? "",
      /Approving #42 BUY ACME .*dry-run OFF: the dispatcher will place a broker order\. \[ACME\]/,
    );
    assert.equal(typed.decided.length, 1);
    assert.match(describeDecision(outcome), /dry-run is OFF: a broker order if they pass/);
    const piped = backendWith(params);
    await assert.rejects(
      decide(
        piped,
        { id: 42, decision: "approved", reason: null },
        { yes: false, retry, confirm: confirmer({ tty: false }) },
      ),
      (error: unknown) =>
        code("CONFIRMATION_REQUIRED")(error) && /--yes/.test((error as OperatorError).hint ?? ""),
    );
    const yes = backendWith(params);
    await decide(
      yes,
      { id: 42, decision: "approved", reason: null },
      { yes: true, retry, confirm: { ...confirmer({ tty: false }), yes: true } },
    );
    assert.equal(yes.decided.length, 1);
    await assert.rejects(
      decide(backendWith(params), { id: 7, decision: "approved", reason: null }, { yes: true, retry }),
      code("REC_NOT_FOUND"),
    );
  });

  it("never asks to reject, even with dry-run off: rejecting stops money moving", async () => {
    const backend = backendWith({ "require-approval": true, "dry-run": false });
    const env = confirmer({ tty: false });
    const outcome = await decide(
      backend,
      { id: 42, decision: "rejected", reason: "rumour" },
      { yes: false, retry, confirm: env },
    );
    assert.deepEqual(env.asked, []);
    assert.match(describeDecision(outcome), /REJECTED at gate approval/);
  });

  it("says so when require-approval is off: the dispatcher was not waiting", async () => {
    const outcome = await decide(
      backendWith({}),
      { id: 42, decision: "approved", reason: null },
      { yes: false, retry, confirm: confirmer({ tty: true }) },
    );
    assert.match(describeDecision(outcome), /require-approval is off/);
  });
});
