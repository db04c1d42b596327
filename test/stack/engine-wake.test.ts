import assert from "node:assert/strict";
import { loadConfig } from "../../services/common/config.ts";
import { priceStack } from "../../stack/cost.ts";
import { ENGINE_WAKES, stackPlan } from "../../stack/plan.ts";
import { devConfig, json, type MockedRun, mockedRun, type Registered } from "./harness.ts";

// Issue 16 on AWS: sortation wakes the engine's function with an asynchronous invoke
// (services/sortation/engine-waker.ts); the 5-minute schedule stays as the sweep.

interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: unknown;
}

let run: MockedRun;
let dev: Registered[];
before(async function () {
  this.timeout(180_000);
  run = await mockedRun();
  dev = run.of("ops-dev");
});

const ENGINE = "ops-pipeline-dev-dispatch-engine";
const ENGINE_ARN = `arn:aws:lambda:us-east-1:123456789012:function:${ENGINE}`;

const sortationEnvironment = () => {
  const def = dev.find(
    (r) =>
      r.type === "aws:ecs/taskDefinition:TaskDefinition" && String(r.inputs.family).endsWith("-sortation"),
  )!;
  const [container] = json<{ environment: { name: string; value: string }[] }[]>(
    def.inputs.containerDefinitions,
  );
  return Object.fromEntries(container!.environment.map((e) => [e.name, e.value]));
};
const statementsOf = (policy: Registered) => json<{ Statement: Statement[] }>(policy.inputs.policy).Statement;
const rolePolicies = () => dev.filter((r) => r.type === "aws:iam/rolePolicy:RolePolicy");

describe("stack: classified events wake the engine's function", () => {
  it("tells the sortation task the engine's function by name, and the invoke gap the cost model assumes", () => {
    const env = sortationEnvironment();
    assert.equal(env.OPS_SORTATION_ENGINE_FUNCTION, ENGINE);
    assert.equal(
      env.OPS_SORTATION_ENGINE_FUNCTION,
      (run.outputs.functionNames as Record<string, string>)["dispatch-engine"],
    );
    assert.equal(env.OPS_SORTATION_ENGINE_WAKE_GAP_MS, String(ENGINE_WAKES.minGapMs));
    // The worker reads what the stack sets.
    const config = loadConfig({ ...env, DATABASE_URL: "postgres://x@127.0.0.1/x" }).sortation;
    assert.equal(config.engineFunctionName, ENGINE);
    assert.equal(config.engineWakeGapMs, ENGINE_WAKES.minGapMs);
  });

  it("grants the sortation task lambda:InvokeFunction on exactly the engine's function, and no other task or function any invoke", () => {
    const sortation = rolePolicies().find((p) => p.name === "ops-dev-sortation-task-policy")!;
    const wake = statementsOf(sortation).filter((s) =>
      [s.Action].flat().some((a) => a.startsWith("lambda:")),
    );
    assert.deepEqual(wake, [
      {
        Sid: "WakeDispatchEngine",
        Effect: "Allow",
        Action: ["lambda:InvokeFunction"],
        Resource: [ENGINE_ARN],
      },
    ]);
    // Elsewhere only each schedule's role invokes its own function.
    const invokers = rolePolicies()
      .filter((p) => statementsOf(p).some((s) => [s.Action].flat().includes("lambda:InvokeFunction")))
      .map((p) => p.name)
      .sort();
    assert.deepEqual(invokers, [
      "ops-dev-dispatch-engine-scheduler-policy",
      "ops-dev-inbound-dock-scheduler-policy",
      "ops-dev-lane-telemetry-scheduler-policy",
      "ops-dev-sortation-task-policy",
      "ops-dev-watchdog-scheduler-policy",
    ]);
  });

  it("keeps the engine one run at a time, its async events for one interval with no retry, and the 5-minute sweep", () => {
    const fn = dev.find((r) => r.type === "aws:lambda/function:Function" && r.inputs.name === ENGINE)!;
    assert.equal(fn.inputs.reservedConcurrentExecutions, 1);
    const invoke = dev.find(
      (r) =>
        r.type === "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig" &&
        r.name.endsWith("dispatch-engine-async"),
    )!;
    assert.deepEqual([invoke.inputs.maximumRetryAttempts, invoke.inputs.maximumEventAgeInSeconds], [0, 300]);
    const schedule = dev.find(
      (r) => r.type === "aws:scheduler/schedule:Schedule" && r.name === "ops-dev-dispatch-engine-schedule",
    )!;
    assert.equal(schedule.inputs.scheduleExpression, "rate(5 minutes)");
  });

  it("prices the wake-ups: about one a minute in sortation's window, bounded by one per gap, none with sortation scaled to 0", () => {
    const plan = stackPlan(devConfig());
    // 06:00-16:15 New York plus the 10-minute lead: 625 minutes a trading day.
    assert.equal(plan.engineWakes.perTradingDay, 625);
    assert.equal(plan.engineWakes.maxPerTradingDay, 37_500);
    const scaledDown = stackPlan(devConfig({ "ops-pipeline:serviceDesiredCount": "0" }));
    assert.equal(scaledDown.engineWakes.perMonth, 0);
    const requests = (p: typeof plan) => {
      const line = priceStack(p).lines.find((l) => l.item.startsWith("Lambda requests"))!;
      return Number(/^(\d+) ×/.exec(line.basis)![1]);
    };
    assert.equal(requests(plan) - requests(scaledDown), Math.round(plan.engineWakes.perMonth));
  });
});
