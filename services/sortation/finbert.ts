import { readFile } from "node:fs/promises";
import path from "node:path";
import { OperatorError } from "../common/errors.ts";
import { type Classifier, type Sentiment, sentimentFrom } from "./classifier.ts";

/**
 * FinBERT through @huggingface/transformers' text-classification pipeline (onnxruntime-node on
 * the CPU). The model folder has the layout of the hub repository Xenova/finbert:
 *
 *   <modelDir>/<modelId>/config.json, tokenizer.json, tokenizer_config.json,
 *                        onnx/model.onnx (fp32), onnx/model_quantized.onnx (q8, int8)
 *                        revision.txt (optional: the hub commit, stored on every row)
 *
 * With `modelDir` set, remote models are switched off: nothing is ever downloaded. Without it the
 * hub is asked once and the files are cached under `cacheDir` (the library's default cache when
 * unset).
 */
export interface FinbertOptions {
  /** Root of local model folders; undefined: download from the hub once and cache. */
  modelDir: string | undefined;
  modelId: string;
  /** Fallback revision when the folder has no revision.txt. */
  revision: string;
  dtype: "q8" | "fp32";
  /** Texts per inference call; a larger list is split. */
  batchSize: number;
  cacheDir?: string | undefined;
  /** onnxruntime intra-op threads; undefined: onnxruntime's default. */
  threads?: number | undefined;
  /** The hub's base URL (default https://huggingface.co/); tests point it at a local server. */
  hubUrl?: string | undefined;
}

/** Labels in FinBERT's config; a model without all three cannot fill the classified row. */
const LABELS = ["positive", "negative", "neutral"] as const;

interface LabelScore {
  label: string;
  score: number;
}

/**
 * Loads the model and returns the classifier.
 * @throws OperatorError MODEL_UNAVAILABLE when the folder or a file is missing or the hub cannot
 * be reached, or the model's labels are not FinBERT's.
 */
export async function loadFinbert(options: FinbertOptions): Promise<Classifier> {
  const transformers = await import("@huggingface/transformers");
  const { env, pipeline } = transformers;
  // `env` is process-wide: set it immediately before loading, never between two awaits of
  // another load (the worker loads one model per process).
  if (options.modelDir) {
    env.allowLocalModels = true;
    env.allowRemoteModels = false;
    env.localModelPath = `${options.modelDir}${path.sep}`;
  } else {
    // Hub mode: only the hub and its cache, never a stray folder under the library's default path.
    env.allowLocalModels = false;
    env.allowRemoteModels = true;
    env.useFSCache = true;
    if (options.cacheDir) env.cacheDir = options.cacheDir;
    if (options.hubUrl) env.remoteHost = options.hubUrl.endsWith("/") ? options.hubUrl : `${options.hubUrl}/`;
  }
  let revision = options.revision;
  if (options.modelDir) {
    revision = await readFile(path.join(options.modelDir, options.modelId, "revision.txt"), "utf8")
      .then((text) => text.trim() || options.revision)
      .catch(() => options.revision);
  }
  let classify: (texts: string[], o: { top_k: number | null }) => Promise<unknown>;
  let dispose: () => Promise<void>;
  try {
    const pipe = await pipeline("text-classification", options.modelId, {
      dtype: options.dtype,
      device: "cpu",
      ...(options.modelDir ? { local_files_only: true } : { revision: options.revision }),
      ...(options.threads
        ? { session_options: { intraOpNumThreads: options.threads, interOpNumThreads: 1 } }
        : {}),
    });
    classify = pipe as unknown as typeof classify;
    dispose = () => pipe.dispose();
    const id2label = (pipe.model.config as { id2label?: Record<string, string> }).id2label ?? {};
    const labels = Object.values(id2label).map((label) => label.toLowerCase());
    if (!LABELS.every((label) => labels.includes(label))) {
      await dispose();
      throw new OperatorError(
        "MODEL_UNAVAILABLE",
        `model ${options.modelId} has labels ${labels.join(", ")}, not FinBERT's positive/negative/neutral`,
        { hint: "point OPS_SORTATION_MODEL_ID at a FinBERT export such as Xenova/finbert" },
      );
    }
  } catch (cause) {
    if (cause instanceof OperatorError) throw cause;
    const where = options.modelDir
      ? path.join(options.modelDir, options.modelId)
      : `the hub (${options.modelId})`;
    throw new OperatorError("MODEL_UNAVAILABLE", `cannot load the sentiment model from ${where}`, {
      hint: options.modelDir
        ? `put config.json, tokenizer.json, tokenizer_config.json and onnx/model${options.dtype === "q8" ? "_quantized" : ""}.onnx there, or unset OPS_SORTATION_MODEL_DIR to use the lexicon`
        : "check network access to huggingface.co or set OPS_SORTATION_MODEL_DIR to a local copy",
      cause,
    });
  }

  const run = async (texts: readonly string[]): Promise<Sentiment[]> => {
    // top_k null: all three labels with their softmax probabilities. The tokenizer truncates at
    // the model's max length (tokenizer_config model_max_length, 512 for FinBERT).
    const raw = (await classify([...texts], { top_k: null })) as LabelScore[][] | LabelScore[];
    const perText = (texts.length === 1 && !Array.isArray(raw[0]) ? [raw] : raw) as LabelScore[][];
    return perText.map((scores) => {
      const p = (label: string) => scores.find((s) => s.label.toLowerCase() === label)?.score ?? 0;
      return sentimentFrom(p("positive"), p("negative"), p("neutral"));
    });
  };

  return {
    kind: "finbert",
    modelId: options.modelId,
    modelRevision: revision,
    modelDtype: options.dtype,
    async classify(texts) {
      const out: Sentiment[] = [];
      for (let i = 0; i < texts.length; i += options.batchSize) {
        out.push(...(await run(texts.slice(i, i + options.batchSize))));
      }
      return out;
    },
    close: () => dispose(),
  };
}
