import { readFile } from "node:fs/promises";
import path from "node:path";
import { OperatorError } from "../common/errors.ts";
import { lengthSortedBatches, padBatch, softmax } from "./batching.ts";
import { type Classifier, type Sentiment, sentimentFrom } from "./classifier.ts";

/**
 * FinBERT on onnxruntime-node (CPU). @huggingface/transformers' text-classification pipeline
 * loads it (hub download and cache, dtype file choice, config, tokenizer, the onnxruntime
 * session); inference does not go through the pipeline's call: the texts are tokenised once,
 * sorted by token length into batches (batching.ts: little padding), padded by hand and run on
 * the pipeline's own onnxruntime session, and the logits' softmax is read directly. The
 * pipeline's call pads a batch in input order and runs a top-k onnx op per row. The model folder has the layout of the hub repository Xenova/finbert:
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

/** The parts of transformers.js this module drives (its own types are loose here). */
interface OrtTensorLike {
  data: ArrayLike<number>;
  dims: readonly number[];
}
interface OrtSession {
  inputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensorLike>>;
}
interface Tokenizer {
  (
    texts: string[],
    options: { padding: false; truncation: true; return_tensor: false },
  ): { input_ids: number[][] };
  pad_token_id?: number | null;
}

/** FinBERT with its tokeniser exposed: the bench runs a raw session on exactly these ids. */
export interface FinbertClassifier extends Classifier {
  readonly kind: "finbert";
  /** The token ids the classifier feeds the model for each text (special tokens, truncation). */
  tokenIds(texts: readonly string[]): number[][];
  /** The id a shorter row is padded with. */
  readonly padTokenId: number;
}

/**
 * Loads the model and returns the classifier.
 * @throws OperatorError MODEL_UNAVAILABLE when the folder or a file is missing or the hub cannot
 * be reached, or the model's labels are not FinBERT's.
 */
export async function loadFinbert(options: FinbertOptions): Promise<FinbertClassifier> {
  const transformers = await import("@huggingface/transformers");
  const { env, pipeline, Tensor } = transformers;
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
  let tokenizer: Tokenizer;
  let session: OrtSession;
  let labelIndex: Record<(typeof LABELS)[number], number>;
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
    dispose = () => pipe.dispose();
    tokenizer = pipe.tokenizer as unknown as Tokenizer;
    const sessions = (pipe.model as unknown as { sessions?: Record<string, OrtSession> }).sessions;
    const modelSession = sessions?.model;
    if (!modelSession) throw new Error("transformers.js holds no onnxruntime session named model");
    session = modelSession;
    const id2label = (pipe.model.config as { id2label?: Record<string, string> }).id2label ?? {};
    const indexOf = (label: string) =>
      Number(Object.entries(id2label).find(([, name]) => name.toLowerCase() === label)?.[0] ?? -1);
    labelIndex = {
      positive: indexOf("positive"),
      negative: indexOf("negative"),
      neutral: indexOf("neutral"),
    };
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

  const padId = tokenizer.pad_token_id ?? 0;
  const tokenIds = (texts: readonly string[]): number[][] =>
    texts.length === 0
      ? []
      : // Truncates at the model's max length (tokenizer_config model_max_length, 512 for FinBERT).
        tokenizer([...texts], { padding: false, truncation: true, return_tensor: false }).input_ids;
  const wantsTokenTypes = session.inputNames.includes("token_type_ids");

  /** One padded batch through the session: a Sentiment per row, in the rows' order. */
  const infer = async (rows: readonly (readonly number[])[]): Promise<Sentiment[]> => {
    const batch = padBatch(rows, padId);
    const dims = [batch.rows, batch.width];
    const feeds: Record<string, unknown> = {
      input_ids: new Tensor("int64", batch.inputIds, dims).ort_tensor,
      attention_mask: new Tensor("int64", batch.attentionMask, dims).ort_tensor,
    };
    if (wantsTokenTypes) feeds.token_type_ids = new Tensor("int64", batch.tokenTypeIds, dims).ort_tensor;
    const { logits } = await session.run(feeds);
    if (!logits) throw new Error("the model returned no logits");
    const classes = logits.dims[1] ?? 0;
    return rows.map((_, r) => {
      const p = softmax(Array.from({ length: classes }, (_, c) => logits.data[r * classes + c] ?? 0));
      return sentimentFrom(
        p[labelIndex.positive] ?? 0,
        p[labelIndex.negative] ?? 0,
        p[labelIndex.neutral] ?? 0,
      );
    });
  };

  return {
    kind: "finbert",
    modelId: options.modelId,
    modelRevision: revision,
    modelDtype: options.dtype,
    tokenIds,
    padTokenId: padId,
    async classify(texts) {
      const ids = tokenIds(texts);
      const out = new Array<Sentiment | undefined>(texts.length);
      // Shortest first, so each batch pads to a length close to its rows'; results go back by index.
      for (const batch of lengthSortedBatches(
        ids.map((row) => row.length),
        options.batchSize,
      )) {
        const sentiments = await infer(batch.map((index) => ids[index] ?? []));
        batch.forEach((index, k) => {
          out[index] = sentiments[k];
        });
      }
      return out.map((sentiment, index) => {
        if (!sentiment) throw new Error(`no result for text ${index}`);
        return sentiment;
      });
    },
    close: () => dispose(),
  };
}
