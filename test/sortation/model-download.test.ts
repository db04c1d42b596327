import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { loadConfig } from "../../services/common/config.ts";
import { loadFinbert } from "../../services/sortation/finbert.ts";
import {
  type DownloadFileSystem,
  type DownloadProgress,
  type EnsureModelOptions,
  ensureModel,
  FINBERT_REVISION,
  MANIFEST_FILE,
  type Manifest,
  ModelDownloadError,
  modelFilesFor,
  nodeDownloadFileSystem,
  resolveUrl,
  verifyCachedModel,
} from "../../services/sortation/model-download.ts";
import { formatProgress, progressReporter } from "../../services/sortation/model-progress.ts";
import { openClassifier } from "../../services/sortation/stage.ts";
import { quiet } from "./fixtures.ts";
import { HUB_COMMIT, HUB_REPO, startTestHub, type TestHub } from "./hub-server.ts";

const QUANTIZED = "onnx/model_quantized.onnx";

describe("model download from a hub (local server speaking the hub's protocol)", function () {
  this.timeout(60_000);
  let hub: TestHub;
  let root: string;

  beforeEach(async () => {
    hub = await startTestHub();
    root = await mkdtemp(path.join(os.tmpdir(), "ops-models-"));
  });
  afterEach(async () => {
    await hub.close();
    await rm(root, { recursive: true, force: true });
  });

  const options = (overrides: Partial<EnsureModelOptions> = {}): EnsureModelOptions => ({
    root,
    modelId: HUB_REPO,
    revision: HUB_COMMIT,
    dtype: "q8",
    hubUrl: hub.url,
    logger: quiet,
    stallMs: 2_000,
    attempts: 1,
    sleep: async () => undefined,
    ...overrides,
  });

  const failure = (kind: ModelDownloadError["failure"]) => (error: unknown) => {
    assert.ok(error instanceof ModelDownloadError, `not a ModelDownloadError: ${String(error)}`);
    assert.equal(error.failure, kind, error.message);
    assert.equal(error.code, "MODEL_DOWNLOAD_FAILED");
    return true;
  };

  it("bakes the same pinned commit into the worker image as the local runtime downloads", async () => {
    const script = await readFile(path.resolve(import.meta.dirname, "../../docker/finbert.mjs"), "utf8");
    assert.match(script, new RegExp(`const REVISION = "${FINBERT_REVISION}";`));
    assert.match(script, /revision: REVISION/);
  });

  it("pins the default revision to a full Xenova/finbert commit hash", () => {
    assert.match(FINBERT_REVISION, /^[0-9a-f]{40}$/);
    assert.equal(loadConfig({}).sortation.modelRevision, FINBERT_REVISION);
    assert.equal(loadConfig({}).sortation.hubUrl, "https://huggingface.co");
    assert.equal(
      resolveUrl("https://huggingface.co/", "Xenova/finbert", "abc", QUANTIZED),
      "https://huggingface.co/Xenova/finbert/resolve/abc/onnx/model_quantized.onnx",
    );
  });

  it("downloads the files once with a manifest of sha256s, then loads from the cache with the hub gone", async () => {
    const progress: DownloadProgress[] = [];
    const first = await ensureModel(options({ onProgress: (p) => progress.push(p) }));
    assert.deepEqual(first.downloaded.sort(), modelFilesFor("q8").sort());
    assert.equal(first.commit, HUB_COMMIT);
    const manifest = JSON.parse(await readFile(path.join(first.modelDir, MANIFEST_FILE), "utf8")) as Manifest;
    for (const file of modelFilesFor("q8")) {
      const entry = manifest.files.find((f) => f.path === file);
      assert.ok(entry, file);
      assert.equal(entry.sha256, createHash("sha256").update(hub.bytes(file)).digest("hex"));
      assert.deepEqual(await readFile(path.join(first.modelDir, file)), hub.bytes(file));
    }
    assert.equal(manifest.files.find((f) => f.path === QUANTIZED)?.upstream.kind, "lfs-sha256");
    assert.equal(manifest.files.find((f) => f.path === "config.json")?.upstream.kind, "git-blob-sha1");
    assert.equal((await readFile(path.join(first.modelDir, "revision.txt"), "utf8")).trim(), HUB_COMMIT);
    // The LFS file came through the CDN redirect.
    assert.ok(hub.requests.some((r) => r.method === "GET" && r.url.startsWith("/cdn/")));
    // Progress grows to the total.
    const last = progress.at(-1);
    assert.ok(last && last.bytes === last.total && last.total > 0);
    assert.ok(progress.every((p, i) => i === 0 || p.bytes >= (progress[i - 1]?.bytes ?? 0)));

    await hub.close();
    const before = hub.requests.length;
    const second = await ensureModel(options());
    assert.deepEqual(second.downloaded, []);
    assert.equal(hub.requests.length, before, "a verified cache makes no request");
    const classifier = await loadFinbert({
      modelDir: second.root,
      modelId: HUB_REPO,
      revision: "unused",
      dtype: "q8",
      batchSize: 4,
      threads: 1,
    });
    try {
      assert.equal(classifier.modelRevision, HUB_COMMIT);
      assert.equal((await classifier.classify(["Acme beats estimates"])).length, 1);
    } finally {
      await classifier.close();
    }
  });

  it("resumes a download that stalled mid-file from its .part file with an HTTP Range", async () => {
    hub.once.set(QUANTIZED, { kind: "stall", afterBytes: 60_000 });
    await assert.rejects(ensureModel(options({ stallMs: 300 })), failure("stalled"));
    const part = path.join(root, HUB_REPO, `${QUANTIZED}.part`);
    assert.equal((await stat(part)).size, 60_000);
    assert.equal(existsSync(path.join(root, HUB_REPO, QUANTIZED)), false, "no half file in place");

    const resumed = await ensureModel(options());
    assert.deepEqual(resumed.downloaded, [QUANTIZED], "the finished files are not fetched again");
    assert.ok(hub.requests.some((r) => r.url.startsWith("/cdn/") && r.range === "bytes=60000-"));
    assert.deepEqual(await readFile(path.join(root, HUB_REPO, QUANTIZED)), hub.bytes(QUANTIZED));
    assert.equal(existsSync(part), false);
    assert.equal((await verifyCachedModel(root, HUB_REPO)).ok, true);
  });

  it("retries a connection cut mid-file within the same start, resuming where it stopped", async () => {
    hub.once.set(QUANTIZED, { kind: "cut", afterBytes: 50_000 });
    const done = await ensureModel(options({ attempts: 3 }));
    assert.ok(done.downloaded.includes(QUANTIZED));
    assert.ok(hub.requests.some((r) => r.range === "bytes=50000-"));
    assert.equal((await verifyCachedModel(root, HUB_REPO)).ok, true);
  });

  it("starts over when the server ignores the Range, and still ends with the right file", async () => {
    hub.once.set(QUANTIZED, { kind: "stall", afterBytes: 40_000 });
    await assert.rejects(ensureModel(options({ stallMs: 300 })), failure("stalled"));
    hub.faults.set(QUANTIZED, { kind: "no-range" });
    await ensureModel(options());
    assert.deepEqual(await readFile(path.join(root, HUB_REPO, QUANTIZED)), hub.bytes(QUANTIZED));
  });

  it("fails with http-error on a 404 and on a 500, writing no model file", async () => {
    hub.faults.set(QUANTIZED, { kind: "404" });
    await assert.rejects(ensureModel(options()), failure("http-error"));
    hub.faults.set(QUANTIZED, { kind: "500" });
    await assert.rejects(ensureModel(options()), (error: unknown) => {
      assert.ok(error instanceof ModelDownloadError && /500/.test(error.message), String(error));
      return true;
    });
    assert.equal(existsSync(path.join(root, HUB_REPO, QUANTIZED)), false);
    await assert.rejects(ensureModel(options({ modelId: "acme/other" })), failure("http-error"));
  });

  it("rejects garbage that does not match the hub's checksum, deleting it (LFS sha256 and git blob sha1)", async () => {
    hub.faults.set("tokenizer.json", { kind: "garbage" });
    await assert.rejects(ensureModel(options()), failure("checksum"));
    assert.equal(existsSync(path.join(root, HUB_REPO, "tokenizer.json")), false);
    hub.faults.clear();
    hub.faults.set(QUANTIZED, { kind: "garbage" });
    await assert.rejects(ensureModel(options()), failure("checksum"));
    assert.equal(existsSync(path.join(root, HUB_REPO, QUANTIZED)), false);
    assert.equal(existsSync(path.join(root, HUB_REPO, `${QUANTIZED}.part`)), false);
    assert.ok(existsSync(path.join(root, HUB_REPO, "tokenizer.json")), "the good files stay");
  });

  it("refuses a server that is not a hub (no checksum headers) and a commit other than the pinned one", async () => {
    const plain = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end("<html>welcome</html>");
    });
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
      await assert.rejects(ensureModel(options({ hubUrl: url })), failure("bad-answer"));
    } finally {
      await new Promise((resolve) => plain.close(resolve));
    }
    hub.faults.set("config.json", { kind: "commit", commit: "f".repeat(40) });
    await assert.rejects(ensureModel(options()), failure("bad-answer"));
  });

  it("says unreachable when nothing listens at the hub's address", async () => {
    const url = hub.url;
    await hub.close();
    await assert.rejects(ensureModel(options({ hubUrl: url })), failure("unreachable"));
  });

  it("detects a corrupted cached file by checksum and downloads only that file again", async () => {
    await ensureModel(options());
    const file = path.join(root, HUB_REPO, QUANTIZED);
    const bytes = await readFile(file);
    bytes[1_000] = (bytes[1_000] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const check = await verifyCachedModel(root, HUB_REPO);
    assert.deepEqual(check.bad, [QUANTIZED]);
    const before = hub.requests.length;
    const repaired = await ensureModel(options());
    assert.deepEqual(repaired.repaired, [QUANTIZED]);
    assert.deepEqual(repaired.downloaded, [QUANTIZED]);
    assert.ok(
      hub.requests.slice(before).every((r) => r.url.includes("model_quantized") || r.url.startsWith("/cdn/")),
    );
    assert.deepEqual(await readFile(file), hub.bytes(QUANTIZED));
  });

  it("stops with disk-full when a write fails with ENOSPC, keeping the partial file for later", async () => {
    let written = 0;
    const fullDisk: DownloadFileSystem = {
      async openAppend(file) {
        const inner = await nodeDownloadFileSystem.openAppend(file);
        return {
          async write(chunk) {
            if (written + chunk.length > 30_000) {
              throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
            }
            written += chunk.length;
            await inner.write(chunk);
          },
          close: () => inner.close(),
        };
      },
    };
    await assert.rejects(ensureModel(options({ fs: fullDisk, attempts: 3 })), (error: unknown) => {
      assert.ok(error instanceof ModelDownloadError && error.failure === "disk-full", String(error));
      assert.match(error.message, /disk full/);
      return true;
    });
    assert.equal((await verifyCachedModel(root, HUB_REPO)).ok, false);
    const done = await ensureModel(options());
    assert.ok(done.downloaded.length > 0);
    assert.equal((await verifyCachedModel(root, HUB_REPO)).ok, true);
  });

  it("openClassifier falls back to the lexicon with the reason when the hub answers 404 (auto)", async () => {
    hub.faults.set(QUANTIZED, { kind: "404" });
    const config = loadConfig({
      OPS_SORTATION_HUB_URL: hub.url,
      OPS_SORTATION_MODEL_ID: HUB_REPO,
      OPS_SORTATION_MODEL_REVISION: HUB_COMMIT,
      OPS_SORTATION_CACHE_DIR: root,
      OPS_SORTATION_DOWNLOAD_ATTEMPTS: "1",
    }).sortation;
    const classifier = await openClassifier(config, quiet);
    assert.equal(classifier.kind, "lexicon");
    assert.match(classifier.fallbackReason ?? "", /404/);
    await assert.rejects(openClassifier({ ...config, classifier: "finbert" }, quiet), failure("http-error"));
  });

  it("openClassifier downloads, verifies and loads FinBERT by default, reporting progress", async () => {
    const config = loadConfig({
      OPS_SORTATION_HUB_URL: hub.url,
      OPS_SORTATION_MODEL_ID: HUB_REPO,
      OPS_SORTATION_MODEL_REVISION: HUB_COMMIT,
      OPS_SORTATION_CACHE_DIR: root,
      OPS_SORTATION_THREADS: "1",
    }).sortation;
    const states: string[] = [];
    const classifier = await openClassifier(config, quiet, { onState: (s) => states.push(s.classifier) });
    try {
      assert.equal(classifier.kind, "finbert");
      assert.equal(classifier.modelRevision, HUB_COMMIT);
      assert.equal(classifier.fallbackReason, undefined);
      assert.ok(states.includes("downloading") && states.at(-1) === "loading");
    } finally {
      await classifier.close();
    }
  });
});

describe("download progress", () => {
  it("draws a bar in place on a terminal and a plain line per tenth otherwise", () => {
    assert.equal(formatProgress({ bytes: 50, total: 100 }, 10), "[#####-----]  50%  0.0/0.0 MB");
    const written: string[] = [];
    const stream = { write: (text: string) => written.push(text) } as unknown as NodeJS.WritableStream;
    let t = 0;
    const bar = progressReporter("bar", { logger: quiet, label: "dl", stream, now: () => (t += 200) });
    bar.update({ file: "f", fileBytes: 10, fileTotal: 100, bytes: 10, total: 100 });
    bar.update({ file: "f", fileBytes: 100, fileTotal: 100, bytes: 100, total: 100 });
    bar.done();
    assert.ok(written[0]?.startsWith("\rdl [##"));
    assert.equal(written.at(-1), "\n");

    const lines: string[] = [];
    const logger = {
      ...quiet,
      info: (_o: unknown, message: string) => lines.push(message),
    } as unknown as typeof quiet;
    const plain = progressReporter("lines", { logger, label: "dl" });
    for (let bytes = 0; bytes <= 100; bytes += 5)
      plain.update({ file: "f", fileBytes: bytes, fileTotal: 100, bytes, total: 100 });
    assert.equal(lines.length, 11);
    assert.ok(lines.every((line) => !line.includes("\r")));
  });
});
