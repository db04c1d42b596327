import type { ScheduledStage } from "../common/runtime/stage.ts";
import { intervalMsOf } from "../common/stages.ts";
import { ruleParamsFrom, runDispatchEngine } from "./engine.ts";

/** The dispatch-engine stage: every 5 minutes, the rule at the current tick. */
export function dispatchEngineStage(): ScheduledStage {
  return {
    name: "dispatch-engine",
    kind: "scheduled",
    intervalMs: intervalMsOf("dispatch-engine"),
    async run(ctx) {
      const params = ruleParamsFrom(await ctx.params.getAll());
      return runDispatchEngine({ db: ctx.db, clock: ctx.clock, logger: ctx.logger, params });
    },
  };
}
