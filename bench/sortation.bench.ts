// `npm run bench -- sortation`: the sortation worker's costs, each beside a baseline measured in
// the same run (BENCHMARKING.md).
//  0. ticker attribution alone: headlines/s of this extractor beside main's (the version at
//     SORTATION_BENCH_OLD_REF, default ed44b58, loaded with `git show` into a temporary folder at
//     bench time: no copy of old code is kept), on the corpus headlines when present.
//  1. claim + complete overhead with a no-op classifier: rows/s with main's extractor (baseline)
//     beside this one, 1 worker, interleaved rounds; and 4 workers.
//  2. inference throughput, headlines/s by batch size, the FinBERT classifier (fp32 and q8:
//     transformers.js' tokenizer, length-sorted batches on its onnxruntime session) beside the
//     same model in PyTorch eager fp32 on the same token ids when python3-torch is installed;
//  3. the worker end to end (claim, tokenise, infer, write) with the q8 model beside a raw
//     onnxruntime-node session (no transformers.js loaded) on exactly the token ids the worker
//     produced, in the same length-sorted batches, in the same run; peak RSS of both (goals:
//     worker >= 90% of the raw session's headlines/s, RSS <= 1.2x).
//     Models: the committed tiny model, and a BERT-base-shaped one (FinBERT's architecture and
//     size, random weights) generated into .ops/models/ by scripts/make-bert-model.py.
//     SORTATION_BENCH_BASE=0 skips the base model (minutes on a busy 2-core machine);
//     SORTATION_BENCH_ONLY=tickers runs parts 0 and 1 only (no model at all);
//     SORTATION_BENCH_ONLY=worker runs part 3 only (the 90% / 1.2x goals: on a busy machine the
//     PyTorch baseline of the base model alone takes most of an hour);
//     SORTATION_BENCH_TORCH=0 skips the PyTorch baseline.
// Each ONNX configuration runs in its own child process so its peak RSS is its own.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { corpusDir } from "../eval/lib/corpus.ts";
import { HEADLINES_CSV, parseCsv } from "../eval/lib/ticker-set.ts";
import { FakeClock } from "../services/common/clock.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../services/common/db.ts";
import { silentLogger } from "../services/common/logger.ts";
import { lengthSortedBatches, padBatch, paddingOf } from "../services/sortation/batching.ts";
import type { Classifier } from "../services/sortation/classifier.ts";
import { loadFinbert } from "../services/sortation/finbert.ts";
import {
  findTickers,
  loadShippedUniverse,
  type TickerEvidence,
  TickerSnapshot,
  type TickerUniverse,
} from "../services/sortation/tickers.ts";
import { processBatch, type SortationDeps, sortationPipeline } from "../services/sortation/worker.ts";
import { insertRawEvents, rawEvent } from "../test/helpers/builders.ts";
import { benchDatabase, type Measurement, median, report, timeIt } from "./lib.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const COMMAND = "npm run bench -- sortation";
const THREADS = 2;
const WARMUP = 1;
const REPEAT = 3;

interface ModelUnderTest {
  label: string;
  size: "tiny" | "base";
  dir: string;
  id: string;
  headlines: number;
  /** Headlines queued for the worker-vs-raw part: several claims of 128, so the pipeline overlaps. */
  e2eRows: number;
}

const MODELS: ModelUnderTest[] = [
  {
    label: "tiny (2x32)",
    size: "tiny",
    dir: path.join(ROOT, "services/sortation/test-model"),
    id: "ops-pipeline/tiny-finbert",
    headlines: 128,
    e2eRows: 512,
  },
  {
    label: "BERT-base-shaped (FinBERT size, 12x768)",
    size: "base",
    dir: path.join(ROOT, ".ops/models"),
    id: "ops-pipeline/finbert-shaped",
    headlines: 64,
    e2eRows: 512,
  },
];
const BATCH_SIZES = [1, 8, 16, 32];

/** Deterministic finance headlines of typical length (10-22 words). */
function headlines(count: number): string[] {
  const subjects = [
    "Apple",
    "Microsoft",
    "Nvidia",
    "Amazon",
    "Tesla",
    "Google",
    "Meta",
    "Netflix",
    "Intel",
    "Boeing",
  ];
  const verbs = [
    "shares jump after earnings beat analyst estimates",
    "stock falls as quarterly revenue misses forecast",
    "raises annual guidance on strong cloud growth",
    "cuts outlook, warns of weak consumer demand",
    "announces billion dollar buyback and higher dividend",
    "faces probe over chip sales, shares slide",
    "to acquire software company in all-stock deal",
    "upgrades lift stock to record high",
  ];
  const tails = [
    "",
    " as investors weigh rates and inflation",
    " ahead of the fed meeting next week",
    "; analysts say the market expects more cuts this year",
    " while oil prices rise and bond yields fall",
  ];
  let state = 42;
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  return Array.from({ length: count }, () => {
    const s = subjects[next(subjects.length)];
    return `${s} ${verbs[next(verbs.length)]}${tails[next(tails.length)]}`;
  });
}

function peakRssMb(): number {
  const status = readFileSync("/proc/self/status", "utf8");
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

// ---------------------------------------------------------------- part 0: ticker attribution

type Attribute = (text: string) => readonly TickerEvidence[];
const OLD_REF = process.env.SORTATION_BENCH_OLD_REF ?? "ed44b58";

/**
 * Main's extractor, from git at bench time: its imports are pointed at this checkout's modules
 * (zod, services/common/errors.ts), and its universe is built from the shipped snapshot.
 */
async function mainExtractor(): Promise<{ attribute: Attribute; label: string }> {
  const source = execFileSync("git", ["show", `${OLD_REF}:services/sortation/tickers.ts`], {
    cwd: ROOT,
    encoding: "utf8",
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), "ops-bench-tickers-"));
  try {
    const file = path.join(dir, "tickers.ts");
    writeFileSync(
      file,
      source
        .replace(/from "zod"/g, `from "${import.meta.resolve("zod")}"`)
        .replace(
          /from "\.\.\/common\/errors\.ts"/g,
          `from "${pathToFileURL(path.join(ROOT, "services/common/errors.ts")).href}"`,
        ),
    );
    const old = (await import(pathToFileURL(file).href)) as {
      buildUniverse(snapshot: TickerSnapshot): unknown;
      extractTickers(text: string, universe: unknown): string[];
    };
    const snapshot = TickerSnapshot.parse(
      JSON.parse(readFileSync(path.join(ROOT, "services/sortation/data/ticker-universe.json"), "utf8")),
    );
    const oldUniverse = old.buildUniverse(snapshot);
    return {
      attribute: (text) =>
        old.extractTickers(text, oldUniverse).map((ticker) => ({ ticker, via: "symbol", text: ticker })),
      label: `main's extractor (${OLD_REF})`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The corpus's real headlines (../shared/corpus or OPS_CORPUS_DIR) when present, else generated ones. */
function benchHeadlines(): { texts: string[]; source: string } {
  const file = path.join(corpusDir(), HEADLINES_CSV);
  if (!existsSync(file))
    return { texts: headlines(2_000), source: "2,000 generated headlines (corpus absent)" };
  const rows = parseCsv(readFileSync(file, "utf8"));
  const titleAt = rows[0]?.indexOf("title") ?? 0;
  const titles = rows
    .slice(1)
    .map((row) => row[titleAt] ?? "")
    .filter((t) => t.length > 0);
  return { texts: titles, source: `${titles.length} Benzinga headlines of the corpus` };
}

async function attributionSpeed(old: { attribute: Attribute; label: string }) {
  const { texts, source } = benchHeadlines();
  const shippedUniverse = await universe();
  const ours: Attribute = (text) => findTickers(text, shippedUniverse);
  const runs = new Map<Attribute, number[]>([
    [old.attribute, []],
    [ours, []],
  ]);
  for (let round = 0; round < WARMUP + 5; round++) {
    for (const [attribute, rates] of runs) {
      const started = performance.now();
      for (const text of texts) attribute(text);
      const seconds = (performance.now() - started) / 1000;
      if (round >= WARMUP) rates.push(texts.length / seconds);
    }
  }
  const measurement = (label: string, rates: number[]): Measurement => ({
    label,
    value: median(rates),
    unit: "headlines/s",
    runs: rates,
  });
  report(
    `ticker attribution alone, ${source}, median of 5 interleaved rounds`,
    COMMAND,
    measurement(old.label, runs.get(old.attribute) ?? []),
    [measurement("this extractor (findTickers, with evidence)", runs.get(ours) ?? [])],
  );
}

// ---------------------------------------------------------------- part 1: queue overhead

const noop: Classifier = {
  kind: "lexicon",
  modelId: "bench/no-op",
  modelRevision: null,
  modelDtype: null,
  classify: async (texts) =>
    texts.map(() => ({ label: "neutral" as const, pPositive: 0, pNegative: 0, pNeutral: 1, score: 0 })),
  close: async () => undefined,
};

async function resetQueue(pool: DatabasePool, rows: number, texts: readonly string[]) {
  await pool.query(sql.unsafe`TRUNCATE inbound_events_raw CASCADE`);
  await insertRawEvents(
    pool,
    Array.from({ length: rows }, (_, i) =>
      rawEvent({ eventUid: `bench-${i}`, title: texts[i % texts.length] ?? "x" }),
    ),
  );
}

async function drain(deps: SortationDeps): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await processBatch(deps);
    total += result.classified;
    if (result.claimed === 0) return total;
  }
}

let shipped: TickerUniverse | undefined;
async function universe(): Promise<TickerUniverse> {
  shipped ??= await loadShippedUniverse();
  return shipped;
}

async function workerDeps(
  pool: DatabasePool,
  name: string,
  classifier: Classifier,
  batch: number,
  tickers?: Attribute,
): Promise<SortationDeps> {
  return {
    db: pool,
    clock: new FakeClock(Date.now()),
    logger: silentLogger(),
    classifier,
    universe: await universe(),
    ...(tickers ? { tickers } : {}),
    worker: name,
    settings: { claimBatchSize: batch, leaseMs: 600_000, maxAttempts: 5, pollIntervalMs: 1_000 },
  };
}

async function queueOverhead(pool: DatabasePool, old: { attribute: Attribute; label: string }) {
  const rows = 5_000;
  const texts = benchHeadlines().texts.slice(0, 1_000);
  const once = async (workers: number, tickers?: Attribute): Promise<number> => {
    const deps = await Promise.all(
      Array.from({ length: workers }, (_, i) => workerDeps(pool, `bench-${i}`, noop, 100, tickers)),
    );
    await resetQueue(pool, rows, texts);
    const started = performance.now();
    const done = await Promise.all(deps.map(drain));
    const ms = performance.now() - started;
    const total = done.reduce((a, b) => a + b, 0);
    if (total !== rows) throw new Error(`classified ${total} rows, expected ${rows}`);
    return rows / (ms / 1000);
  };
  // Old and new alternate within each round, so a noisy neighbour hits both alike.
  // Five interleaved rounds: the database's noise is larger than the extractors' difference.
  const oldRuns: number[] = [];
  const newRuns: number[] = [];
  for (let i = 0; i < WARMUP + 5; i++) {
    const a = await once(1, old.attribute);
    const b = await once(1);
    if (i >= WARMUP) {
      oldRuns.push(a);
      newRuns.push(b);
    }
  }
  const fourRuns: number[] = [];
  for (let i = 0; i < WARMUP + REPEAT; i++) {
    const rate = await once(4);
    if (i >= WARMUP) fourRuns.push(rate);
  }
  const m = (label: string, runs: number[]): Measurement => ({
    label,
    value: median(runs),
    unit: "rows/s",
    runs,
  });
  report(
    `claim + complete with a no-op classifier (includes ticker attribution), batches of 100, ${rows} rows`,
    COMMAND,
    m(`1 worker, ${old.label}`, oldRuns),
    [m("1 worker, this extractor", newRuns), m("4 workers, this extractor", fourRuns)],
  );
  const ratio = median(newRuns) / median(oldRuns);
  console.log(
    `  goal: within 10% of main's extractor: ${ratio.toFixed(2)}× ${ratio >= 0.9 ? "met" : "MISSED"}`,
  );
}

// ---------------------------------------------------------------- part 2: inference

interface ChildRequest {
  mode: "sweep";
  model: ModelUnderTest;
  dtype: "fp32" | "q8";
}
/** The worker alone, q8, end to end on a queue of `rows` headlines, one round per "round" line. */
interface WorkerRequest {
  mode: "worker";
  model: ModelUnderTest;
  databaseUrl: string;
  rows: number;
  /** Inference batch (OPS_SORTATION_INFERENCE_BATCH_SIZE). */
  batch: number;
  /** Rows claimed at once (OPS_SORTATION_BATCH_SIZE): one claim and one write per claim. */
  claim: number;
  /** OPS_SORTATION_PIPELINE_DEPTH: 2 overlaps a batch's write with the next one's inference. */
  depth: 1 | 2;
}
/** What a worker child says once loaded: the token ids its classifier fed the model. */
interface WorkerReady {
  ids: number[][];
  padId: number;
}
/**
 * A raw onnxruntime-node session on given token ids (no transformers.js, no database), one round
 * per "round" line: each named batching of the ids in turn.
 */
interface RawRequest {
  mode: "raw";
  modelFile: string;
  ids: number[][];
  padId: number;
  /** Named batchings: index lists into `ids`, each padded to its longest row. */
  batchings: Record<string, number[][]>;
}
/** One round: headlines/s (a worker) or headlines/s per batching (the raw session). */
type RoundResult = { rate: number } | { rates: Record<string, number> };
interface ChildResult {
  rates: Record<string, number>;
  probabilities: number[][];
  peakRssMb: number;
  loadMs: number;
}

function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The headline set of one batch size: fewer at batch size 1, where PyTorch is slowest. */
function setFor(model: ModelUnderTest, batchSize: number): string[] {
  return headlines(batchSize === 1 ? Math.min(16, model.headlines) : model.headlines);
}

async function child(request: ChildRequest): Promise<ChildResult> {
  const started = performance.now();
  const classifier = await loadFinbert({
    modelDir: request.model.dir,
    modelId: request.model.id,
    revision: "bench",
    dtype: request.dtype,
    batchSize: 1_000_000, // the benchmark splits the batches itself
    threads: THREADS,
  });
  const loadMs = performance.now() - started;
  const rates: Record<string, number> = {};
  let probabilities: number[][] = [];
  for (const bs of BATCH_SIZES) {
    const texts = setFor(request.model, bs);
    const batches = batchesOf(texts, bs);
    const { medianMs } = await timeIt(
      async () => {
        for (const batch of batches) await classifier.classify(batch);
      },
      { warmup: WARMUP, repeat: REPEAT },
    );
    rates[bs] = texts.length / (medianMs / 1000);
    if (probabilities.length === 0) {
      probabilities = (await classifier.classify(batches[0] ?? [])).map((s) => [
        s.pPositive,
        s.pNegative,
        s.pNeutral,
      ]);
    }
  }
  await classifier.close();
  return { rates, probabilities, peakRssMb: peakRssMb(), loadMs };
}

/** Reads stdin line by line: the parent drives a served child's rounds. */
async function* stdinLines(): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of process.stdin) {
    buffered += (chunk as Buffer).toString();
    for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
      yield buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
    }
  }
  if (buffered) yield buffered;
}
let input: AsyncGenerator<string> | undefined;
/** The one reader of stdin (a second `for await` over it would find it consumed). */
function stdin(): AsyncGenerator<string> {
  input ??= stdinLines();
  return input;
}

/** Serves rounds until "end": prints the ready line, one line per round, then the peak RSS. */
async function serve(
  ready: unknown,
  round: (only: string | undefined) => Promise<RoundResult>,
  close: () => Promise<void>,
) {
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  for (;;) {
    const line = await stdin().next();
    if (line.done || line.value === "end") break;
    // "round" runs everything; "round NAME" one batching of the raw session.
    const only = line.value.startsWith("round ") ? line.value.slice("round ".length) : undefined;
    process.stdout.write(`${JSON.stringify(await round(only))}\n`);
  }
  await close();
  // Exit once the line is out: stdin stays open, so the process would otherwise linger.
  process.stdout.write(`${JSON.stringify({ peakRssMb: peakRssMb() })}\n`, () => process.exit(0));
}

async function workerChild(request: WorkerRequest): Promise<void> {
  const classifier = await loadFinbert({
    modelDir: request.model.dir,
    modelId: request.model.id,
    revision: "bench",
    dtype: "q8",
    batchSize: request.batch,
    threads: THREADS,
  });
  const pool = await connectDatabase({
    url: request.databaseUrl,
    statementTimeoutMs: 600_000,
    idleTimeoutMs: 10_000,
    idleInTransactionTimeoutMs: 600_000,
    connectTimeoutMs: 10_000,
    maximumPoolSize: 4,
  });
  const texts = headlines(request.rows);
  const deps = await workerDeps(pool, `bench-e2e-${process.pid}`, classifier, request.claim);
  // The worker scores the headline (the title, trimmed): the same strings as queued here.
  const ids = classifier.tokenIds(texts.map((text) => text.trim()));
  await serve(
    { ids, padId: classifier.padTokenId } satisfies WorkerReady,
    async () => {
      await resetQueue(pool, request.rows, texts);
      const pipeline = sortationPipeline(deps, request.depth);
      const t0 = performance.now();
      let done = 0;
      for (;;) {
        const result = await pipeline.round();
        done += result.classified;
        if (result.claimed === 0) break;
      }
      const rate = request.rows / ((performance.now() - t0) / 1000);
      if (done !== request.rows) throw new Error(`end to end classified ${done} of ${request.rows}`);
      return { rate };
    },
    async () => {
      await closeDatabase(pool);
      await classifier.close();
    },
  );
}

async function rawChild(request: RawRequest): Promise<void> {
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(request.modelFile, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
  });
  const wantsTypes = session.inputNames.includes("token_type_ids");
  const padded = Object.fromEntries(
    Object.entries(request.batchings).map(([name, batches]) => [
      name,
      batches.map((indices) =>
        padBatch(
          indices.map((i) => request.ids[i] ?? []),
          request.padId,
        ),
      ),
    ]),
  );
  await serve(
    {},
    async (only) => {
      const rates: Record<string, number> = {};
      for (const [name, batches] of Object.entries(padded)) {
        if (only && name !== only) continue;
        const t0 = performance.now();
        for (const batch of batches) {
          const dims = [batch.rows, batch.width];
          const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
            input_ids: new ort.Tensor("int64", batch.inputIds, dims),
            attention_mask: new ort.Tensor("int64", batch.attentionMask, dims),
          };
          if (wantsTypes) feeds.token_type_ids = new ort.Tensor("int64", batch.tokenTypeIds, dims);
          await session.run(feeds);
        }
        rates[name] = request.ids.length / ((performance.now() - t0) / 1000);
      }
      return { rates };
    },
    () => session.release(),
  );
}

/** A child process that serves rounds (workerChild, rawChild): one line in, one line out. */
interface Served {
  next(): Promise<unknown>;
  send(line: string): void;
  /** Ends the child's stdin. */
  close(): void;
}
function spawnServed(request: WorkerRequest | RawRequest): Served {
  const proc = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--child"], {
    env: process.env,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let buffered = "";
  let failed: Error | undefined;
  const fail: ((error: Error) => void)[] = [];
  proc.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let at = buffered.indexOf("\n"); at >= 0; at = buffered.indexOf("\n")) {
      const line = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      const waiter = waiting.shift();
      fail.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  proc.on("close", (code) => {
    if (code === 0) return;
    failed = new Error(`bench child (${request.mode}) exited with ${code}`);
    for (const reject of fail.splice(0)) reject(failed);
  });
  proc.stdin.write(`${JSON.stringify(request)}\n`);
  return {
    next: () =>
      new Promise((resolve, reject) => {
        const line = lines.shift();
        if (line !== undefined) return resolve(JSON.parse(line) as unknown);
        if (failed) return reject(failed);
        waiting.push((l) => resolve(JSON.parse(l) as unknown));
        fail.push(reject);
      }),
    send: (line) => proc.stdin.write(`${line}\n`),
    close: () => proc.stdin.end(),
  };
}

function runProcess(command: string, args: string[], input: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { env, stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    proc.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    proc.on("error", reject);
    proc.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(" ")} exited with ${code}`)),
    );
    proc.stdin.end(input);
  });
}

async function runChild(request: ChildRequest): Promise<ChildResult> {
  const out = await runProcess(
    process.execPath,
    ["--import", "tsx", import.meta.filename, "--child"],
    JSON.stringify(request),
    process.env,
  );
  return JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as ChildResult;
}

interface TorchResult {
  results: { batchSize: number; headlinesPerSecond: number }[];
  probabilities: number[][];
  peakRssMb: number;
  threads: number;
  torch: string;
}

function hasTorch(): boolean {
  try {
    execFileSync("/usr/bin/python3", ["-c", "import torch"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function torchBaseline(model: ModelUnderTest): Promise<{ result: TorchResult; meanTokens: number }> {
  const { AutoTokenizer, env } = await import("@huggingface/transformers");
  env.allowRemoteModels = false;
  env.localModelPath = `${model.dir}${path.sep}`;
  const tokenizer = await AutoTokenizer.from_pretrained(model.id);
  const config = JSON.parse(readFileSync(path.join(model.dir, model.id, "config.json"), "utf8")) as {
    ops_pipeline: { seed: number };
  };
  const batches: Record<string, { input_ids: number[][]; attention_mask: number[][] }[]> = {};
  let tokens = 0;
  let counted = 0;
  for (const bs of BATCH_SIZES) {
    batches[bs] = batchesOf(setFor(model, bs), bs).map((texts) => {
      // The same tokeniser call the pipeline makes: pad to the longest in the batch, truncate.
      const encoded = tokenizer(texts, { padding: true, truncation: true }) as {
        input_ids: { tolist(): bigint[][] };
        attention_mask: { tolist(): bigint[][] };
      };
      const ids = encoded.input_ids.tolist().map((row) => row.map(Number));
      const mask = encoded.attention_mask.tolist().map((row) => row.map(Number));
      if (bs === 1) {
        tokens += ids[0]?.length ?? 0;
        counted += 1;
      }
      return { input_ids: ids, attention_mask: mask };
    });
  }
  const vocab = Object.keys(
    (
      JSON.parse(readFileSync(path.join(model.dir, model.id, "tokenizer.json"), "utf8")) as {
        model: { vocab: Record<string, number> };
      }
    ).model.vocab,
  ).length;
  // BENCHMARKING.md: the baseline alone runs without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, so
  // OpenBLAS picks its best kernel here; never in tests or CI.
  const { OPENBLAS_CORETYPE: _c, OPENBLAS_L2_SIZE: _l, ...env2 } = process.env;
  const out = await runProcess(
    "/usr/bin/python3",
    [path.join(import.meta.dirname, "sortation_torch_baseline.py")],
    JSON.stringify({
      size: model.size,
      seed: config.ops_pipeline.seed,
      vocabSize: vocab,
      threads: THREADS,
      warmup: WARMUP,
      repeat: REPEAT,
      batches,
    }),
    { ...env2, OPENBLAS_NUM_THREADS: String(THREADS), OMP_NUM_THREADS: String(THREADS) },
  );
  return { result: JSON.parse(out) as TorchResult, meanTokens: tokens / Math.max(1, counted) };
}

async function inference(model: ModelUnderTest, databaseUrl: string) {
  if (!existsSync(path.join(model.dir, model.id, "onnx", "model.onnx"))) {
    console.log(
      `\n## ${model.label}: skipped, no model at ${path.join(model.dir, model.id)}\n` +
        `generate it: /usr/bin/python3 scripts/make-bert-model.py --size ${model.size} --out ${path.join(path.relative(ROOT, model.dir), model.id)}`,
    );
    return;
  }
  const workerOnly = process.env.SORTATION_BENCH_ONLY === "worker";
  if (!workerOnly) await batchSizeSweeps(model);
  const batch = 32;
  const rows = model.e2eRows;
  // The old default (claim 32, one stage after another), claiming 4 inference batches at once,
  // and the new default: claim 128 with the write overlapped with the next batch (depth 2).
  const configs: { name: string; claim: number; depth: 1 | 2 }[] = [
    { name: "claim 32, depth 1 (the old default)", claim: batch, depth: 1 },
    { name: "claim 128, depth 1", claim: 4 * batch, depth: 1 },
    { name: "claim 128, depth 2 (the default)", claim: 4 * batch, depth: 2 },
  ];
  const workers = configs.map((config) =>
    spawnServed({ mode: "worker", model, databaseUrl, rows, batch, ...config }),
  );
  const readies = (await Promise.all(workers.map((w) => w.next()))) as WorkerReady[];
  const { ids, padId } = readies[0] ?? { ids: [], padId: 0 };
  // The raw session's batchings: every row length-sorted at once (the best any worker could
  // do), and the batches each claim size makes (claims of consecutive ids, sorted within).
  const perClaim = (claim: number) =>
    batchesOf(
      ids.map((_, i) => i),
      claim,
    ).flatMap((chunk) =>
      lengthSortedBatches(
        chunk.map((i) => ids[i]?.length ?? 0),
        batch,
      ).map((b) => b.map((k) => chunk[k] ?? 0)),
    );
  const lengths = ids.map((row) => row.length);
  const batchings: Record<string, number[][]> = {
    "all rows sorted": lengthSortedBatches(lengths, batch),
    "claim 32's batches": perClaim(batch),
    "claim 128's batches": perClaim(4 * batch),
  };
  const raw = spawnServed({
    mode: "raw",
    modelFile: path.join(model.dir, model.id, "onnx", "model_quantized.onnx"),
    ids,
    padId,
    batchings,
  });
  await raw.next();
  const rounds = Number(process.env.SORTATION_BENCH_ROUNDS ?? 5);
  const rawRates: Record<string, number[]> = {};
  const workerRates: number[][] = configs.map(() => []);
  // Interleaved round by round (BENCHMARKING.md): raw, then each worker, WARMUP + rounds times,
  // so a change in the machine's load falls on every configuration alike.
  // Each raw batching runs right before a worker, so each raw figure is as long as a worker's
  // round and measured next to one (one long raw round met more of other sessions' bursts).
  const names = Object.keys(batchings);
  for (let round = 0; round < WARMUP + rounds; round++) {
    for (const [i, w] of workers.entries()) {
      const name = names[i] ?? "all rows sorted";
      raw.send(`round ${name}`);
      const r = (await raw.next()) as { rates: Record<string, number> };
      w.send("round");
      const { rate } = (await w.next()) as { rate: number };
      if (round < WARMUP) continue;
      workerRates[i]?.push(rate);
      rawRates[name] = [...(rawRates[name] ?? []), r.rates[name] ?? Number.NaN];
    }
  }
  const ends = [raw, ...workers].map((child) => {
    child.send("end");
    child.close();
    return child.next() as Promise<{ peakRssMb: number }>;
  });
  const [rawEnd, ...workerEnds] = await Promise.all(ends);
  const meanTokens = lengths.reduce((sum, n) => sum + n, 0) / Math.max(1, lengths.length);
  const padding = Object.entries(batchings)
    .map(([name, b]) => `${name} ${paddingOf(lengths, b)}`)
    .join(", ");
  console.log(
    `\n# ${model.label}: ${meanTokens.toFixed(1)} tokens per headline on average, ${lengths.reduce((a, n) => a + n, 0)} in all; ` +
      `padded positions: ${padding}; median of ${rounds} interleaved rounds after ${WARMUP} warm-up`,
  );
  const rawBest = median(rawRates["all rows sorted"] ?? []);
  const fmt = (values: readonly number[]) => values.map((v) => v.toFixed(1)).join(" ");
  report(
    `${model.label}: worker end to end beside a raw onnxruntime session on its token ids (q8, batch ${batch}, ${rows} headlines)`,
    COMMAND,
    {
      label: "raw session, all rows sorted (infer only)",
      value: rawBest,
      unit: "headlines/s",
      runs: rawRates["all rows sorted"] ?? [],
    },
    [
      ...Object.entries(rawRates)
        .filter(([name]) => name !== "all rows sorted")
        .map(([name, values]) => ({
          label: `raw session, ${name}`,
          value: median(values),
          unit: "headlines/s",
          runs: values,
        })),
      ...configs.map((config, i) => ({
        label: `worker (claim+tokenise+infer+write), ${config.name}`,
        value: median(workerRates[i] ?? []),
        unit: "headlines/s",
        runs: workerRates[i] ?? [],
      })),
    ],
  );
  for (const [i, config] of configs.entries()) {
    const own = median(rawRates[config.claim === batch ? "claim 32's batches" : "claim 128's batches"] ?? []);
    const rate = median(workerRates[i] ?? []);
    console.log(
      `  ${config.name}: ${(rate / rawBest).toFixed(2)}x raw (all rows sorted), ${(rate / own).toFixed(2)}x raw on its own batches; ` +
        `rounds ${fmt(workerRates[i] ?? [])}; peak RSS ${(workerEnds[i]?.peakRssMb ?? 0).toFixed(0)} MB ` +
        `(${((workerEnds[i]?.peakRssMb ?? 0) / (rawEnd?.peakRssMb ?? 1)).toFixed(2)}x raw's ${(rawEnd?.peakRssMb ?? 0).toFixed(0)} MB)`,
    );
  }
  console.log(`  goal: worker >= 0.90x raw, peak RSS <= 1.20x (the worker's includes a database pool)`);
}

/** Part 2: headlines/s by batch size, fp32 and q8, beside PyTorch eager fp32 when installed. */
async function batchSizeSweeps(model: ModelUnderTest): Promise<void> {
  const torch =
    process.env.SORTATION_BENCH_TORCH !== "0" && hasTorch() ? await torchBaseline(model) : undefined;
  const fp32 = await runChild({ mode: "sweep", model, dtype: "fp32" });
  const q8 = await runChild({ mode: "sweep", model, dtype: "q8" });
  if (torch) {
    let maxDiff = 0;
    torch.result.probabilities.forEach((row, i) => {
      row.forEach((p, j) => {
        maxDiff = Math.max(maxDiff, Math.abs(p - (fp32.probabilities[i]?.[j] ?? Number.NaN)));
      });
    });
    console.log(
      `\n# ${model.label}: ${torch.meanTokens.toFixed(1)} tokens per headline on average (with [CLS]/[SEP]); ` +
        `PyTorch ${torch.result.torch} on ${torch.result.threads} threads, onnxruntime ${THREADS} threads; ` +
        `same model check: max |p_torch - p_onnx_fp32| = ${maxDiff.toExponential(2)}`,
    );
  } else {
    console.log(
      `\n# ${model.label}: onnxruntime ${THREADS} threads; PyTorch baseline skipped ` +
        `(python3-torch not installed, or SORTATION_BENCH_TORCH=0)`,
    );
  }
  for (const bs of BATCH_SIZES) {
    const torchRate = torch?.result.results.find((r) => r.batchSize === bs)?.headlinesPerSecond;
    const fp32Rate: Measurement = {
      label: "classifier fp32",
      value: fp32.rates[bs] ?? Number.NaN,
      unit: "headlines/s",
      runs: [],
    };
    report(
      `${model.label}, batch size ${bs}`,
      COMMAND,
      torchRate === undefined
        ? fp32Rate
        : { label: "PyTorch eager fp32", value: torchRate, unit: "headlines/s", runs: [] },
      [
        ...(torchRate === undefined ? [] : [fp32Rate]),
        {
          label: "classifier q8 (int8 MatMuls)",
          value: q8.rates[bs] ?? Number.NaN,
          unit: "headlines/s",
          runs: [],
        },
      ],
    );
  }
  console.log(
    `  peak RSS of the batch-size sweeps: ${torch ? `PyTorch ${torch.result.peakRssMb.toFixed(0)} MB, ` : ""}` +
      `classifier fp32 ${fp32.peakRssMb.toFixed(0)} MB, q8 ${q8.peakRssMb.toFixed(0)} MB; ` +
      `model load fp32 ${fp32.loadMs.toFixed(0)} ms, q8 ${q8.loadMs.toFixed(0)} ms`,
  );
}

async function main() {
  if (process.argv.includes("--child")) {
    const first = await stdin().next();
    const request = JSON.parse(first.done ? "{}" : first.value) as ChildRequest | WorkerRequest | RawRequest;
    if (request.mode === "raw") return rawChild(request);
    if (request.mode === "worker") return workerChild(request);
    process.stdout.write(`${JSON.stringify(await child(request))}\n`);
    return;
  }
  const workerOnly = process.env.SORTATION_BENCH_ONLY === "worker";
  const old = workerOnly ? null : await mainExtractor();
  if (old) await attributionSpeed(old);
  const database = await benchDatabase(10);
  try {
    if (old) await queueOverhead(database.pool, old);
    if (process.env.SORTATION_BENCH_ONLY === "tickers") {
      console.log("\n## inference: skipped (SORTATION_BENCH_ONLY=tickers)");
      return;
    }
    for (const model of MODELS) {
      if (model.size === "base" && process.env.SORTATION_BENCH_BASE === "0") {
        console.log("\n## BERT-base-shaped model: skipped (SORTATION_BENCH_BASE=0)");
        continue;
      }
      await inference(model, database.url);
    }
  } finally {
    await database.close();
  }
}

await main();
