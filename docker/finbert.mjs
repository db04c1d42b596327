// Build-time helper of docker/worker.Dockerfile (plain JS: it runs before and without tsx).
//   node docker/finbert.mjs fetch /opt/models   downloads Xenova/finbert (q8) into the folder
//   node docker/finbert.mjs check /opt/models   loads it with remote models disabled and checks
//                                               that it classifies two known headlines correctly
// The check fails the image build when the model is missing, truncated or not FinBERT.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { env, pipeline } from "@huggingface/transformers";

const MODEL = "Xenova/finbert";
const DTYPE = "q8";
// The commit the local runtime downloads too (services/sortation/model-download.ts FINBERT_REVISION;
// test/sortation/model-download.test.ts holds the two equal): the image never takes `main`.
const REVISION = "cd48a1669a8bee89178c53d4dbd934899d0fa281";
const [mode, dir] = process.argv.slice(2);
if (!dir || (mode !== "fetch" && mode !== "check")) {
  console.error("usage: node docker/finbert.mjs fetch|check <models-dir>");
  process.exit(2);
}
env.cacheDir = dir;
env.localModelPath = dir;
env.allowRemoteModels = mode === "fetch";

const classify = await pipeline("text-classification", MODEL, { dtype: DTYPE, revision: REVISION });
const onnx = path.join(dir, MODEL, "onnx", "model_quantized.onnx");
if (!existsSync(onnx)) {
  console.error(`finbert: ${onnx} missing after ${mode}`);
  process.exit(1);
}
const expectations = [
  ["Shares soared after the company beat quarterly earnings expectations and raised guidance.", "positive"],
  ["The stock plunged after the firm missed estimates and warned of widening losses.", "negative"],
];
for (const [headline, label] of expectations) {
  const [top] = await classify(headline);
  if (top?.label !== label) {
    console.error(`finbert: expected ${label} for "${headline}", got ${JSON.stringify(top)}`);
    process.exit(1);
  }
}
console.log(
  `finbert ${mode}: ${MODEL} (${DTYPE}) ok, ${(statSync(onnx).size / 1e6).toFixed(1)} MB at ${onnx}`,
);
