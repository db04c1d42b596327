import { readFile } from "node:fs/promises";
import path from "node:path";
import { OperatorError } from "../common/errors.ts";
import { lengthSortedBatches, padBatch, softmax } from "./batching.ts";
import { type Classifier, type Sentiment, sentimentFrom } from "./classifier.ts";

/**
 * FinBERT on onnxruntime-node (CPU). The texts are tokenised once, sorted by token length into
 * batches (batching.ts: little padding), padded by hand and run on an onnxruntime session; the
 * logits' softmax is read directly. transformers.js' pipeline call is not used for inference: it
 * pads a batch in arrival order and runs a top-k onnx op per row.
 *  - a local model folder (production): @huggingface/tokenizers + onnxruntime-node directly, the
 *    libraries transformers.js drives, without importing transformers.js (~150 MB of RSS);
 *  - no folder: transformers.js' pipeline downloads and caches the hub's files and holds the
 *    session and tokenizer, which are then driven the same way.
 * The model folder has the layout of the hub repository Xenova/finbert:
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

/** What the classifier needs from a loaded model, however it was loaded. */
interface Backend {
  session: OrtSession;
  /** Token ids per text: special tokens added, truncated at the model's max length. */
  tokenIds(texts: readonly string[]): number[][];
  /** An int64 input tensor of the session's own onnxruntime. */
  tensor(data: BigInt64Array, dims: number[]): unknown;
  padId: number;
  id2label: Record<string, string>;
  dispose(): Promise<void>;
}

/**
 * A local model folder (production: the stage downloads and verifies it first, model-download.ts):
 * @huggingface/tokenizers on tokenizer.json and an onnxruntime-node session on the ONNX file,
 * the two libraries transformers.js itself drives. Importing transformers.js costs ~150 MB of
 * resident memory before any model is loaded (measured: 89 MB → 241 MB); this path never loads it.
 */
async function loadLocal(options: FinbertOptions, modelDir: string): Promise<Backend> {
  const folder = path.join(modelDir, options.modelId);
  const json = async <T>(file: string): Promise<T> =>
    JSON.parse(await readFile(path.join(folder, file), "utf8")) as T;
  const config = await json<{ id2label?: Record<string, string>; max_position_embeddings?: number }>(
    "config.json",
  );
  const tokenizerJson = await json<object>("tokenizer.json");
  const tokenizerConfig = await json<{ model_max_length?: number; pad_token?: string }>(
    "tokenizer_config.json",
  );
  const [{ Tokenizer }, ort] = await Promise.all([
    import("@huggingface/tokenizers"),
    import("onnxruntime-node"),
  ]);
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const file = path.join(folder, "onnx", options.dtype === "q8" ? "model_quantized.onnx" : "model.onnx");
  const session = await ort.InferenceSession.create(file, {
    ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
  });
  // tokenizer_config's model_max_length (512 for FinBERT), bounded by the position embeddings
  // (some exports write a huge sentinel there).
  const maxLength = Math.min(
    tokenizerConfig.model_max_length ?? Number.POSITIVE_INFINITY,
    config.max_position_embeddings ?? 512,
  );
  const padId = tokenizer.token_to_id(tokenizerConfig.pad_token ?? "[PAD]") ?? 0;
  return {
    session: session as unknown as OrtSession,
    tokenIds: (texts) =>
      texts.map((text) => {
        const ids = tokenizer.encode(text).ids;
        // Truncation exactly as transformers.js' tokenizer (and so every row scored before this
        // path) does for one text: the first maxLength ids, so an overlong text loses its [SEP]
        // (Python's tokenizers would keep it); the same ids, the same scores.
        return ids.length <= maxLength ? ids : ids.slice(0, maxLength);
      }),
    tensor: (data, dims) => new ort.Tensor("int64", data, dims),
    padId,
    id2label: config.id2label ?? {},
    dispose: () => session.release(),
  };
}

/**
 * No local folder: transformers.js' pipeline downloads the hub's files once and caches them
 * (the pipeline is kept where it helps: hub protocol, cache, dtype file choice); inference still
 * goes through its session and tokenizer directly, as for a local folder.
 */
async function loadThroughPipeline(options: FinbertOptions): Promise<Backend> {
  const { env, pipeline, Tensor } = await import("@huggingface/transformers");
  // `env` is process-wide: set it immediately before loading (the worker loads one model per
  // process). Only the hub and its cache, never a stray folder under the library's default path.
  env.allowLocalModels = false;
  env.allowRemoteModels = true;
  env.useFSCache = true;
  if (options.cacheDir) env.cacheDir = options.cacheDir;
  if (options.hubUrl) env.remoteHost = options.hubUrl.endsWith("/") ? options.hubUrl : `${options.hubUrl}/`;
  const pipe = await pipeline("text-classification", options.modelId, {
    dtype: options.dtype,
    device: "cpu",
    revision: options.revision,
    ...(options.threads
      ? { session_options: { intraOpNumThreads: options.threads, interOpNumThreads: 1 } }
      : {}),
  });
  const tokenizer = pipe.tokenizer as unknown as Tokenizer;
  const session = (pipe.model as unknown as { sessions?: Record<string, OrtSession> }).sessions?.model;
  if (!session) {
    await pipe.dispose();
    throw new Error("transformers.js holds no onnxruntime session named model");
  }
  return {
    session,
    tokenIds: (texts) =>
      texts.length === 0
        ? []
        : tokenizer([...texts], { padding: false, truncation: true, return_tensor: false }).input_ids,
    tensor: (data, dims) => new Tensor("int64", data, dims).ort_tensor,
    padId: tokenizer.pad_token_id ?? 0,
    id2label: (pipe.model.config as { id2label?: Record<string, string> }).id2label ?? {},
    dispose: () => pipe.dispose(),
  };
}

/**
 * Loads the model and returns the classifier.
 * @throws OperatorError MODEL_UNAVAILABLE when the folder or a file is missing or the hub cannot
 * be reached, or the model's labels are not FinBERT's.
 */
export async function loadFinbert(options: FinbertOptions): Promise<FinbertClassifier> {
  let revision = options.revision;
  if (options.modelDir) {
    revision = await readFile(path.join(options.modelDir, options.modelId, "revision.txt"), "utf8")
      .then((text) => text.trim() || options.revision)
      .catch(() => options.revision);
  }
  let backend: Backend;
  try {
    backend = options.modelDir
      ? await loadLocal(options, options.modelDir)
      : await loadThroughPipeline(options);
  } catch (cause) {
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
  const { session, tokenIds, tensor, padId } = backend;
  const dispose = backend.dispose;
  const id2label = backend.id2label;
  const indexOf = (label: string) =>
    Number(Object.entries(id2label).find(([, name]) => name.toLowerCase() === label)?.[0] ?? -1);
  const labelIndex = {
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
  const wantsTokenTypes = session.inputNames.includes("token_type_ids");

  /** One padded batch through the session: a Sentiment per row, in the rows' order. */
  const infer = async (rows: readonly (readonly number[])[]): Promise<Sentiment[]> => {
    const batch = padBatch(rows, padId);
    const dims = [batch.rows, batch.width];
    const feeds: Record<string, unknown> = {
      input_ids: tensor(batch.inputIds, dims),
      attention_mask: tensor(batch.attentionMask, dims),
    };
    if (wantsTokenTypes) feeds.token_type_ids = tensor(batch.tokenTypeIds, dims);
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
