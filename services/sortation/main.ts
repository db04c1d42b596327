// Fargate entry point of the sortation worker: runs until SIGTERM, then finishes or releases
// its batch (see runLoopProcess). The image bakes the model under OPS_SORTATION_MODEL_DIR
// (docs/sortation.md, "Model folder layout").
import { runLoopProcess } from "../common/adapters.ts";
import { sortationStage } from "./stage.ts";

await runLoopProcess(sortationStage);
