import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { describeCause, OperatorError } from "../common/errors.ts";
import type { Logger } from "../common/logger.ts";

/**
 * Downloads a model from a Hugging Face-style hub once, into a local folder in the layout
 * finbert.ts loads (`<root>/<modelId>/config.json, tokenizer.json, tokenizer_config.json,
 * onnx/model_quantized.onnx`), and verifies it before every load.
 *
 * The hub protocol (what huggingface_hub's file_download does):
 *   HEAD {hub}/{modelId}/resolve/{revision}/{file}, redirects not followed: `X-Repo-Commit` (the
 *   commit the revision resolved to), `X-Linked-Etag` + `X-Linked-Size` for LFS files (the ETag is
 *   the file's sha256) or `ETag` + `Content-Length` for small files (the ETag is the git blob
 *   sha1), and a `Location` to the CDN for LFS files;
 *   GET the same URL, redirects followed, `Range: bytes=N-` to resume a `.part` file (206).
 *
 * Every file is checked against the hub's checksum while it streams, renamed into place only
 * when it matches, and recorded with its size and sha256 in `ops-manifest.json`. Before a load,
 * every file is hashed again against the manifest: a file that differs is deleted and fetched
 * again; nothing half-written or altered is ever handed to the loader.
 */

/**
 * The pinned Xenova/finbert commit: "Upload fp16 ONNX weights" (cd48a16), the newest full commit
 * hash we could find published on the hub's pages; config.json, tokenizer files,
 * onnx/model.onnx and onnx/model_quantized.onnx there are those of the 2023 upload (5459c7b).
 * Not downloaded from this machine (no network): the first real download checks it.
 */
export const FINBERT_REVISION = "cd48a1669a8bee89178c53d4dbd934899d0fa281";
export const DEFAULT_HUB_URL = "https://huggingface.co";
export const MANIFEST_FILE = "ops-manifest.json";

/** The files transformers.js needs for a text-classification pipeline in this dtype. */
export function modelFilesFor(dtype: "q8" | "fp32"): string[] {
  return [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    dtype === "q8" ? "onnx/model_quantized.onnx" : "onnx/model.onnx",
  ];
}

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  /** The hub's checksum it was verified against. */
  upstream: { kind: "lfs-sha256" | "git-blob-sha1"; value: string };
}

export interface Manifest {
  format: 1;
  modelId: string;
  /** The revision asked for, and the commit the hub resolved it to. */
  revision: string;
  commit: string;
  hubUrl: string;
  files: ManifestFile[];
}

/** Why a download failed, short enough for a status line. */
export type DownloadFailure =
  | "unreachable"
  | "http-error"
  | "stalled"
  | "checksum"
  | "bad-answer"
  | "disk-full"
  | "file-system";

export class ModelDownloadError extends OperatorError {
  override readonly name = "ModelDownloadError";
  readonly failure: DownloadFailure;
  constructor(failure: DownloadFailure, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super("MODEL_DOWNLOAD_FAILED", message, options);
    this.failure = failure;
  }
}

export interface DownloadProgress {
  file: string;
  fileBytes: number;
  fileTotal: number;
  /** Over all files still to fetch in this run. */
  bytes: number;
  total: number;
}

/** The writes of a download, a port so tests can fill the disk (ENOSPC) without filling it. */
export interface DownloadFileSystem {
  openAppend(file: string): Promise<{ write(chunk: Uint8Array): Promise<void>; close(): Promise<void> }>;
}

export const nodeDownloadFileSystem: DownloadFileSystem = {
  async openAppend(file) {
    const handle = await open(file, "a");
    return {
      write: async (chunk) => {
        let offset = 0;
        while (offset < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
          offset += bytesWritten;
        }
      },
      close: () => handle.close(),
    };
  },
};

export interface EnsureModelOptions {
  /** Root of local model folders (OPS_SORTATION_CACHE_DIR, default <OPS_DATA_DIR>/models). */
  root: string;
  modelId: string;
  revision: string;
  dtype: "q8" | "fp32";
  hubUrl: string;
  logger: Logger;
  /** No byte for this long (headers included) aborts the attempt. */
  stallMs: number;
  /** Attempts per file; a stalled or cut attempt resumes from its .part file. */
  attempts: number;
  onProgress?: ((progress: DownloadProgress) => void) | undefined;
  fetch?: typeof fetch;
  fs?: DownloadFileSystem;
  /** Between attempts; tests pass a no-op. */
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal | undefined;
}

export interface EnsuredModel {
  /** Pass as modelDir to loadFinbert. */
  root: string;
  modelDir: string;
  /** The hub commit the files came from. */
  commit: string;
  /** Files fetched in this call (empty: all came from the verified cache). */
  downloaded: string[];
  /** Cached files that failed their checksum and were fetched again. */
  repaired: string[];
}

interface RemoteFile {
  path: string;
  url: string;
  size: number;
  commit: string | null;
  upstream: ManifestFile["upstream"];
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;

function unquote(etag: string | null): string | null {
  if (!etag) return null;
  return etag
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1")
    .toLowerCase();
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

async function sizeOf(file: string): Promise<number | null> {
  return stat(file).then(
    (s) => s.size,
    () => null,
  );
}

export async function readManifest(modelDir: string): Promise<Manifest | null> {
  const text = await readFile(path.join(modelDir, MANIFEST_FILE), "utf8").catch(() => null);
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as Manifest;
    return parsed.format === 1 && Array.isArray(parsed.files) ? parsed : null;
  } catch {
    return null;
  }
}

async function writeManifest(modelDir: string, manifest: Manifest): Promise<void> {
  const file = path.join(modelDir, MANIFEST_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

export interface Verification {
  ok: boolean;
  manifest: Manifest | null;
  /** Files of the manifest whose size or sha256 no longer match (or that are gone). */
  bad: string[];
  /** Required files the manifest does not list. */
  missing: string[];
}

/**
 * Hashes every file of the manifest (and checks the required ones are listed). Pure reading.
 * @param dtype when given, the files that dtype needs must all be present.
 */
export async function verifyCachedModel(
  root: string,
  modelId: string,
  dtype: "q8" | "fp32" = "q8",
): Promise<Verification> {
  const modelDir = path.join(root, modelId);
  const manifest = await readManifest(modelDir);
  if (!manifest) return { ok: false, manifest: null, bad: [], missing: modelFilesFor(dtype) };
  const bad: string[] = [];
  for (const entry of manifest.files) {
    const file = path.join(modelDir, entry.path);
    if ((await sizeOf(file)) !== entry.size) {
      bad.push(entry.path);
      continue;
    }
    const hash = createHash("sha256");
    await hashFile(file, hash);
    if (hash.digest("hex") !== entry.sha256) bad.push(entry.path);
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  const missing = modelFilesFor(dtype).filter((f) => !listed.has(f));
  return { ok: bad.length === 0 && missing.length === 0, manifest, bad, missing };
}

/** The resolve URL of one file; the model id's slash is part of the path, as on the hub. */
export function resolveUrl(hubUrl: string, modelId: string, revision: string, file: string): string {
  const base = hubUrl.replace(/\/+$/, "");
  const parts = [...modelId.split("/"), "resolve", revision, ...file.split("/")];
  return `${base}/${parts.map(encodeURIComponent).join("/")}`;
}

/**
 * Makes sure `<root>/<modelId>` holds verified files for `dtype` at `revision`, downloading what
 * is missing or corrupt. With a complete, verified folder it makes no network request at all.
 * @throws ModelDownloadError naming the reason (unreachable, http-error, stalled, checksum,
 * bad-answer, disk-full, file-system); a partial file stays as .part for the next attempt.
 */
export async function ensureModel(options: EnsureModelOptions): Promise<EnsuredModel> {
  const { logger } = options;
  const modelDir = path.join(options.root, options.modelId);
  const verification = await verifyCachedModel(options.root, options.modelId, options.dtype);
  const manifest = verification.manifest;
  const sameRevision = manifest !== null && manifest.revision === options.revision;
  if (verification.ok && sameRevision && manifest) {
    return { root: options.root, modelDir, commit: manifest.commit, downloaded: [], repaired: [] };
  }
  const keep = new Map<string, ManifestFile>();
  const repaired: string[] = [];
  if (manifest && sameRevision) {
    for (const entry of manifest.files) {
      if (verification.bad.includes(entry.path)) {
        logger.warn(
          { file: entry.path, modelDir },
          "cached model file fails its checksum: deleting it and downloading it again",
        );
        repaired.push(entry.path);
        await rm(path.join(modelDir, entry.path), { force: true });
      } else {
        keep.set(entry.path, entry);
      }
    }
  } else if (manifest) {
    logger.info(
      { cached: manifest.revision, wanted: options.revision },
      "cached model is another revision: downloading the pinned one",
    );
  }
  const wanted = modelFilesFor(options.dtype).filter((file) => !keep.has(file));

  const fetchImpl = options.fetch ?? fetch;
  // HEAD every file first: a missing file or a dead hub fails before any big transfer.
  const remote: RemoteFile[] = [];
  for (const file of wanted) remote.push(await head(fetchImpl, options, file));
  const commits = new Set(remote.map((r) => r.commit).filter((c): c is string => c !== null));
  const commit = commits.size === 1 ? [...commits][0] : (manifest?.commit ?? options.revision);
  if (commits.size > 1) {
    throw new ModelDownloadError("bad-answer", `the hub resolved ${options.revision} to several commits`);
  }
  if (HEX40.test(options.revision) && commit && commit !== options.revision) {
    throw new ModelDownloadError(
      "bad-answer",
      `the hub served commit ${commit} for the pinned revision ${options.revision}`,
    );
  }

  // Folders only once the hub has answered: an offline start leaves nothing behind.
  try {
    await mkdir(path.join(modelDir, "onnx"), { recursive: true });
  } catch (cause) {
    throw fileSystemError(cause, modelDir);
  }
  const total = remote.reduce((sum, r) => sum + r.size, 0);
  let done = 0;
  logger.info(
    { modelId: options.modelId, revision: options.revision, files: wanted, bytes: total, modelDir },
    `downloading ${options.modelId} (${(total / 1e6).toFixed(1)} MB) into ${modelDir}`,
  );
  const entries = new Map(keep);
  for (const file of remote) {
    const entry = await downloadWithRetries(fetchImpl, options, modelDir, file, (fileBytes) =>
      options.onProgress?.({
        file: file.path,
        fileBytes,
        fileTotal: file.size,
        bytes: done + fileBytes,
        total,
      }),
    );
    done += file.size;
    entries.set(file.path, entry);
    await writeManifest(modelDir, {
      format: 1,
      modelId: options.modelId,
      revision: options.revision,
      commit: commit ?? options.revision,
      hubUrl: options.hubUrl,
      files: [...entries.values()],
    }).catch((cause: unknown) => {
      throw fileSystemError(cause, modelDir);
    });
  }
  await writeFile(path.join(modelDir, "revision.txt"), `${commit ?? options.revision}\n`).catch(
    (cause: unknown) => {
      throw fileSystemError(cause, modelDir);
    },
  );
  return {
    root: options.root,
    modelDir,
    commit: commit ?? options.revision,
    downloaded: remote.map((r) => r.path),
    repaired,
  };
}

function fileSystemError(cause: unknown, where: string): ModelDownloadError {
  const code = (cause as { code?: unknown }).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new ModelDownloadError("disk-full", `disk full while writing the model into ${where}`, {
      hint: "free space there (FinBERT q8 needs about 115 MB) or set OPS_SORTATION_CACHE_DIR elsewhere; the partial file resumes",
      cause,
    });
  }
  return new ModelDownloadError(
    "file-system",
    `cannot write the model into ${where}: ${describeCause(cause)}`,
    {
      hint: "check the folder's permissions or set OPS_SORTATION_CACHE_DIR",
      cause,
    },
  );
}

/** Runs `work` with an AbortSignal that fires when `arm()` is not called for stallMs. */
function stallGuard(stallMs: number, outer: AbortSignal | undefined) {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${stallMs} ms`)), stallMs);
  };
  const onOuter = () => controller.abort(outer?.reason);
  outer?.addEventListener("abort", onOuter, { once: true });
  arm();
  return {
    signal: controller.signal,
    arm,
    stalled: () => controller.signal.aborted && !outer?.aborted,
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuter);
    },
  };
}

function networkError(cause: unknown, url: string, guard: { stalled(): boolean }, stallMs: number) {
  if (guard.stalled()) {
    return new ModelDownloadError("stalled", `the hub stopped sending ${url} (no data for ${stallMs} ms)`, {
      hint: "the next start resumes the download; check the network or OPS_SORTATION_HUB_URL",
      cause,
    });
  }
  return new ModelDownloadError("unreachable", `cannot reach the hub for ${url}: ${describeCause(cause)}`, {
    hint: "check network access to the hub (OPS_SORTATION_HUB_URL) or set OPS_SORTATION_MODEL_DIR to a local copy",
    cause,
  });
}

async function httpError(response: Response, url: string): Promise<ModelDownloadError> {
  const code = response.headers.get("x-error-code");
  await response.body?.cancel().catch(() => undefined);
  return new ModelDownloadError(
    "http-error",
    `the hub answered ${response.status}${code ? ` (${code})` : ""} for ${url}`,
    {
      hint:
        response.status === 404
          ? "check OPS_SORTATION_MODEL_ID and OPS_SORTATION_MODEL_REVISION"
          : "the hub may be down; the next start tries again",
    },
  );
}

async function head(fetchImpl: typeof fetch, options: EnsureModelOptions, file: string): Promise<RemoteFile> {
  let url = resolveUrl(options.hubUrl, options.modelId, options.revision, file);
  // Relative redirects (a renamed repository) are followed; an absolute one is the CDN, whose
  // headers are not the hub's, so its Location is kept for the GET only.
  for (let hop = 0; hop < 5; hop++) {
    const guard = stallGuard(options.stallMs, options.signal);
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method: "HEAD",
        redirect: "manual",
        headers: { "accept-encoding": "identity" },
        signal: guard.signal,
      });
    } catch (cause) {
      throw networkError(cause, url, guard, options.stallMs);
    } finally {
      guard.dispose();
    }
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location?.startsWith("/")) {
      url = new URL(location, url).toString();
      continue;
    }
    if (response.status >= 400) throw await httpError(response, url);
    const linked = unquote(response.headers.get("x-linked-etag"));
    const etag = linked ?? unquote(response.headers.get("etag"));
    const sizeHeader = response.headers.get("x-linked-size") ?? response.headers.get("content-length");
    const size = sizeHeader === null ? Number.NaN : Number(sizeHeader);
    let upstream: ManifestFile["upstream"] | null = null;
    if (etag && HEX64.test(etag)) upstream = { kind: "lfs-sha256", value: etag };
    else if (etag && HEX40.test(etag)) upstream = { kind: "git-blob-sha1", value: etag };
    if (!upstream || !Number.isSafeInteger(size) || size < 0) {
      throw new ModelDownloadError(
        "bad-answer",
        `the hub's answer for ${url} has no usable checksum or size (ETag ${etag ?? "absent"}, size ${sizeHeader ?? "absent"})`,
        {
          hint: "OPS_SORTATION_HUB_URL must point at a Hugging Face hub (or a mirror speaking its protocol)",
        },
      );
    }
    return {
      path: file,
      url,
      size,
      commit: response.headers.get("x-repo-commit")?.toLowerCase() ?? null,
      upstream,
    };
  }
  throw new ModelDownloadError("bad-answer", `too many redirects for ${url}`);
}

async function downloadWithRetries(
  fetchImpl: typeof fetch,
  options: EnsureModelOptions,
  modelDir: string,
  file: RemoteFile,
  progress: (fileBytes: number) => void,
): Promise<ManifestFile> {
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadOnce(fetchImpl, options, modelDir, file, progress);
    } catch (error) {
      const retriable =
        error instanceof ModelDownloadError &&
        ["stalled", "unreachable", "checksum"].includes(error.failure) &&
        !options.signal?.aborted;
      if (!retriable || attempt >= options.attempts) throw error;
      options.logger.warn(
        { file: file.path, attempt, of: options.attempts, reason: describeCause(error) },
        "model download attempt failed; retrying",
      );
      await sleep(1_000 * attempt);
    }
  }
}

async function downloadOnce(
  fetchImpl: typeof fetch,
  options: EnsureModelOptions,
  modelDir: string,
  file: RemoteFile,
  progress: (fileBytes: number) => void,
): Promise<ManifestFile> {
  const target = path.join(modelDir, file.path);
  const part = `${target}.part`;
  let have = (await sizeOf(part)) ?? 0;
  if (have > file.size) {
    await rm(part, { force: true });
    have = 0;
  }
  const guard = stallGuard(options.stallMs, options.signal);
  try {
    let response: Response;
    try {
      response = await fetchImpl(file.url, {
        headers: { "accept-encoding": "identity", ...(have > 0 ? { range: `bytes=${have}-` } : {}) },
        redirect: "follow",
        signal: guard.signal,
      });
    } catch (cause) {
      throw networkError(cause, file.url, guard, options.stallMs);
    }
    if (response.status === 416 && have > 0) {
      // The server cannot serve the rest: start over.
      await response.body?.cancel().catch(() => undefined);
      await rm(part, { force: true });
      throw new ModelDownloadError("checksum", `the hub refused to resume ${file.path}; starting over`);
    }
    if (response.status >= 400) throw await httpError(response, file.url);
    if (response.status !== 206 && have > 0) {
      // The server ignored the Range: the body is the whole file.
      await rm(part, { force: true });
      have = 0;
    }
    const sha256 = createHash("sha256");
    const sha1 = createHash("sha1");
    if (file.upstream.kind === "git-blob-sha1") sha1.update(`blob ${file.size}\0`);
    if (have > 0) {
      await hashFile(part, sha256);
      if (file.upstream.kind === "git-blob-sha1") await hashFile(part, sha1);
      options.logger.info({ file: file.path, resumeAt: have, of: file.size }, "resuming model download");
    }
    let writer: Awaited<ReturnType<DownloadFileSystem["openAppend"]>>;
    try {
      writer = await (options.fs ?? nodeDownloadFileSystem).openAppend(part);
    } catch (cause) {
      throw fileSystemError(cause, modelDir);
    }
    let received = have;
    try {
      if (!response.body) throw new ModelDownloadError("bad-answer", `empty answer for ${file.url}`);
      try {
        for await (const chunk of response.body) {
          guard.arm();
          received += chunk.length;
          if (received > file.size) {
            throw new ModelDownloadError(
              "bad-answer",
              `the hub sent more than the ${file.size} bytes it announced for ${file.path}`,
            );
          }
          sha256.update(chunk);
          if (file.upstream.kind === "git-blob-sha1") sha1.update(chunk);
          try {
            await writer.write(chunk);
          } catch (cause) {
            throw fileSystemError(cause, modelDir);
          }
          progress(received);
        }
      } catch (cause) {
        if (cause instanceof ModelDownloadError) throw cause;
        throw networkError(cause, file.url, guard, options.stallMs);
      }
    } finally {
      await writer.close().catch(() => undefined);
    }
    if (received !== file.size) {
      throw new ModelDownloadError(
        "stalled",
        `the hub closed ${file.path} after ${received} of ${file.size} bytes`,
        { hint: "the next attempt resumes from the partial file" },
      );
    }
    const digest = sha256.digest("hex");
    const expected = file.upstream.value;
    const actual = file.upstream.kind === "lfs-sha256" ? digest : sha1.digest("hex");
    if (actual !== expected) {
      await rm(part, { force: true });
      throw new ModelDownloadError(
        "checksum",
        `${file.path} from the hub does not match its checksum (${file.upstream.kind} ${expected}, got ${actual}); deleted`,
        { hint: "the next attempt downloads it again; a hub or proxy is altering files if this repeats" },
      );
    }
    try {
      await rename(part, target);
    } catch (cause) {
      throw fileSystemError(cause, modelDir);
    }
    return { path: file.path, size: file.size, sha256: digest, upstream: file.upstream };
  } finally {
    guard.dispose();
  }
}
