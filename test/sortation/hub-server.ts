import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import path from "node:path";
import { TEST_MODEL_DIR, TEST_MODEL_ID } from "./fixtures.ts";

/**
 * A local stand-in for the Hugging Face hub on 127.0.0.1, speaking its file protocol with the
 * repository's tiny test model as the repository `acme/finbert`:
 *   HEAD/GET /{repo}/resolve/{revision}/{file}
 *     small files: 200, ETag = git blob sha1, Content-Length, X-Repo-Commit;
 *     LFS files (onnx/*): 302 to an absolute CDN URL, X-Linked-Etag = sha256, X-Linked-Size,
 *     X-Repo-Commit (as the hub does: the CDN's own headers are not the hub's);
 *   GET /cdn/{sha256}: the bytes, honouring Range (206 + Content-Range).
 * Faults per file, set by tests: 404, 500, garbage (other bytes, same headers), stall after N
 * bytes (the socket stays open, silent), cut after N bytes, ignore Range.
 */
export const HUB_REPO = "acme/finbert";
export const HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567";
const LFS = (file: string) => file.startsWith("onnx/");

export type Fault =
  | { kind: "404" }
  | { kind: "500" }
  | { kind: "garbage" }
  | { kind: "stall"; afterBytes: number }
  | { kind: "cut"; afterBytes: number }
  | { kind: "no-range" }
  | { kind: "commit"; commit: string };

export interface TestHub {
  url: string;
  requests: { method: string; url: string; range: string | undefined }[];
  faults: Map<string, Fault>;
  /** Faults that apply once, then clear themselves. */
  once: Map<string, Fault>;
  bytes(file: string): Buffer;
  close(): Promise<void>;
}

export async function startTestHub(): Promise<TestHub> {
  const files = new Map<string, Buffer>();
  for (const file of [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "onnx/model_quantized.onnx",
    "onnx/model.onnx",
  ]) {
    files.set(file, readFileSync(path.join(TEST_MODEL_DIR, TEST_MODEL_ID, file)));
  }
  const bySha = new Map<string, string>();
  for (const [file, body] of files) bySha.set(createHash("sha256").update(body).digest("hex"), file);
  const requests: TestHub["requests"] = [];
  const faults = new Map<string, Fault>();
  const once = new Map<string, Fault>();
  const sockets = new Set<Socket>();
  const faultFor = (file: string): Fault | undefined => {
    const single = once.get(file);
    if (single) {
      once.delete(file);
      return single;
    }
    return faults.get(file);
  };

  const send = (
    request: IncomingMessage,
    response: ServerResponse,
    file: string,
    body: Buffer,
    fault: Fault | undefined,
  ) => {
    const served = fault?.kind === "garbage" ? Buffer.alloc(body.length, 0x41) : body;
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
    const start = range && fault?.kind !== "no-range" ? Number(range[1]) : 0;
    if (start > served.length) {
      response.writeHead(416, { "content-range": `bytes */${served.length}` });
      response.end();
      return;
    }
    const slice = served.subarray(start);
    response.writeHead(start > 0 ? 206 : 200, {
      "content-length": slice.length,
      "accept-ranges": "bytes",
      ...(start > 0 ? { "content-range": `bytes ${start}-${served.length - 1}/${served.length}` } : {}),
    });
    if (request.method === "HEAD") {
      response.end();
      return;
    }
    if (fault?.kind === "stall" || fault?.kind === "cut") {
      const n = Math.max(0, fault.afterBytes - start);
      response.write(slice.subarray(0, n));
      if (fault.kind === "cut") setTimeout(() => response.socket?.destroy(), 20);
      // stall: nothing more is ever sent; the socket is destroyed on close().
      return;
    }
    void file;
    response.end(slice);
  };

  const server = createServer((request, response) => {
    const url = request.url ?? "";
    requests.push({ method: request.method ?? "", url, range: request.headers.range });
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url);
    if (cdn) {
      const file = bySha.get(cdn[1] ?? "");
      const body = file ? files.get(file) : undefined;
      if (!file || !body) {
        response.writeHead(404);
        response.end();
        return;
      }
      send(request, response, file, body, faultFor(file));
      return;
    }
    const match = /^\/(.+?\/.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const repo = match?.[1];
    const revision = match?.[2] ?? "";
    const file = decodeURIComponent(match?.[3] ?? "");
    const body = files.get(file);
    if (repo !== HUB_REPO || ![HUB_COMMIT, "main"].includes(revision) || !body) {
      response.writeHead(404, { "x-error-code": repo !== HUB_REPO ? "RepoNotFound" : "EntryNotFound" });
      response.end();
      return;
    }
    // A fault on the hub route applies to HEAD and GET alike; stalls and cuts to the body only.
    const fault = request.method === "HEAD" ? faults.get(file) : faultFor(file);
    if (fault?.kind === "404" || fault?.kind === "500") {
      response.writeHead(Number(fault.kind), { "content-type": "text/html" });
      response.end("<html>error</html>");
      return;
    }
    const commit = fault?.kind === "commit" ? fault.commit : HUB_COMMIT;
    if (LFS(file)) {
      const sha = createHash("sha256").update(body).digest("hex");
      const port = (server.address() as AddressInfo).port;
      response.writeHead(302, {
        location: `http://127.0.0.1:${port}/cdn/${sha}`,
        "x-linked-etag": `"${sha}"`,
        "x-linked-size": String(body.length),
        "x-repo-commit": commit,
        etag: `"${createHash("sha1").update(body).digest("hex").slice(0, 20)}-lfs"`,
      });
      response.end();
      // The GET's body faults (stall, cut, garbage) apply at the CDN: put them back for it.
      if (request.method === "GET" && fault && ["stall", "cut", "garbage", "no-range"].includes(fault.kind)) {
        once.set(file, fault);
      }
      return;
    }
    const blob = createHash("sha1").update(`blob ${body.length}\0`).update(body).digest("hex");
    response.setHeader("etag", `"${blob}"`);
    response.setHeader("x-repo-commit", commit);
    send(request, response, file, body, fault);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    faults,
    once,
    bytes: (file) => files.get(file) ?? Buffer.alloc(0),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
