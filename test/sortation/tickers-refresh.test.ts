import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { TickerSnapshot } from "../../services/sortation/tickers.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

function opsctl(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "cli/src/main.ts"), ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

describe("opsctl tickers refresh", function () {
  this.timeout(60_000);

  it("fetches the SEC list over HTTP with a User-Agent and writes a dated, derived snapshot", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((request, response) => {
      seen.push(request.headers);
      response.setHeader("content-type", "application/json");
      response.end(
        JSON.stringify({
          fields: ["cik", "name", "ticker", "exchange"],
          data: [
            [320193, "Apple Inc.", "AAPL", "Nasdaq"],
            [1, "Pink Sheet Corp", "PINKY", "OTC"],
          ],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const dir = await mkdtemp(path.join(os.tmpdir(), "ops-tickers-"));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files/company_tickers_exchange.json`;
      const out = path.join(dir, "snapshot.json");
      const result = await opsctl([
        "--json",
        "tickers",
        "refresh",
        "--from",
        url,
        "--out",
        out,
        "--user-agent",
        "Ops Test ops@example.com",
      ]);
      assert.equal(result.code, 0);
      assert.equal(JSON.parse(result.stdout).companies, 1);
      assert.equal(seen[0]?.["user-agent"], "Ops Test ops@example.com");
      const snapshot = TickerSnapshot.parse(JSON.parse(await readFile(out, "utf8")));
      assert.equal(snapshot.source, url);
      assert.deepEqual(snapshot.companies, [["AAPL", "Nasdaq", "APPLE"]]);
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("exits 2 with what to do when the server refuses, writing nothing", async () => {
    const server = createServer((_request, response) => {
      response.statusCode = 403;
      response.end("Undeclared automated tool");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const dir = await mkdtemp(path.join(os.tmpdir(), "ops-tickers-"));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/x.json`;
      const out = path.join(dir, "snapshot.json");
      const result = await opsctl(["--json", "tickers", "refresh", "--from", url, "--out", out]);
      assert.equal(result.code, 2);
      assert.equal(JSON.parse(result.stdout).error.code, "TICKERS_FETCH_FAILED");
      await assert.rejects(readFile(out, "utf8"));
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
