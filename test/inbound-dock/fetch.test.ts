import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { FeedFetchError, fetchFeed } from "../../services/inbound-dock/fetch.ts";
import { rss, serve, startServer, TEST_FETCH, type TestServer } from "./helpers.ts";

const NO_VALIDATORS = { etag: null, lastModified: null };

async function fetchError(promise: Promise<unknown>): Promise<FeedFetchError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof FeedFetchError, `expected FeedFetchError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the fetch to fail");
}

describe("inbound-dock fetch", () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.close();
  });

  it("sends the configured User-Agent naming the project and a contact, and asks for compression", async () => {
    server.routes.set("/ua", serve(rss([{ title: "a" }])));
    await fetchFeed(`${server.base}/ua`, NO_VALIDATORS, TEST_FETCH);
    const seen = server.requests.findLast((r) => r.path === "/ua");
    assert.equal(seen?.headers["user-agent"], TEST_FETCH.userAgent);
    assert.match(String(seen?.headers["accept-encoding"]), /gzip/);
    assert.match(String(seen?.headers["accept-encoding"]), /br/);
  });

  it("sends If-None-Match and If-Modified-Since and reports a 304 as not modified", async () => {
    server.routes.set("/cond", (req, res) => {
      if (
        req.headers["if-none-match"] === '"v1"' &&
        req.headers["if-modified-since"] === "Tue, 01 Jan 2030 00:00:00 GMT"
      ) {
        res.writeHead(304, { etag: '"v1"' }).end();
        return;
      }
      res
        .writeHead(200, { etag: '"v1"', "last-modified": "Tue, 01 Jan 2030 00:00:00 GMT" })
        .end(rss([{ title: "x" }]));
    });
    const first = await fetchFeed(`${server.base}/cond`, NO_VALIDATORS, TEST_FETCH);
    assert.equal(first.kind, "ok");
    const second = await fetchFeed(`${server.base}/cond`, first.validators, TEST_FETCH);
    assert.equal(second.kind, "not-modified");
    assert.equal(second.validators.etag, '"v1"');
  });

  it("decompresses gzip, deflate and br bodies", async () => {
    const { brotliCompressSync, deflateSync } = await import("node:zlib");
    const xml = rss([{ title: "compressed" }]);
    const encoders = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
    for (const [encoding, encode] of Object.entries(encoders)) {
      server.routes.set(`/enc-${encoding}`, (_req, res) => {
        res
          .writeHead(200, { "content-encoding": encoding, "content-type": "application/rss+xml" })
          .end(encode(Buffer.from(xml)));
      });
      const result = await fetchFeed(`${server.base}/enc-${encoding}`, NO_VALIDATORS, TEST_FETCH);
      assert.equal(result.kind === "ok" && result.body.toString("utf8"), xml, encoding);
    }
  });

  it("fails a 500 with its status", async () => {
    server.routes.set("/500", serve("boom", "text/plain", 500));
    const error = await fetchError(fetchFeed(`${server.base}/500`, NO_VALIDATORS, TEST_FETCH));
    assert.equal(error.code, "http-status");
    assert.equal(error.status, 500);
  });

  it("times out a server that never sends headers", async () => {
    server.routes.set("/hang", () => undefined);
    const error = await fetchError(
      fetchFeed(`${server.base}/hang`, NO_VALIDATORS, { ...TEST_FETCH, connectTimeoutMs: 200 }),
    );
    assert.equal(error.code, "timeout");
    assert.match(
      error.message,
      /no response headers within 200 ms/,
      "the headers timeout, not the total one, fired",
    );
  });

  it("times out a slow server that trickles its body past the total timeout", async () => {
    server.routes.set("/slow", (_req, res) => {
      res.writeHead(200, { "content-type": "application/rss+xml" });
      res.write("<rss version='2.0'><channel>");
      const timer = setInterval(() => res.write("<!-- still here -->"), 100);
      res.on("close", () => clearInterval(timer));
    });
    const error = await fetchError(
      fetchFeed(`${server.base}/slow`, NO_VALIDATORS, { ...TEST_FETCH, totalTimeoutMs: 500 }),
    );
    assert.equal(error.code, "timeout");
  });

  it("aborts an oversized body, declared or streamed", async () => {
    const big = Buffer.alloc(TEST_FETCH.maxBytes + 10, 0x20);
    server.routes.set("/big", serve(big));
    assert.equal(
      (await fetchError(fetchFeed(`${server.base}/big`, NO_VALIDATORS, TEST_FETCH))).code,
      "too-large",
    );
    server.routes.set("/big-chunked", (_req, res) => {
      res.writeHead(200, { "content-type": "application/rss+xml" });
      for (let i = 0; i < 40; i++) res.write(Buffer.alloc(16 * 1024, 0x20));
      res.end();
    });
    assert.equal(
      (await fetchError(fetchFeed(`${server.base}/big-chunked`, NO_VALIDATORS, TEST_FETCH))).code,
      "too-large",
    );
  });

  it("stops a gzip bomb at the cap on decompressed bytes", async () => {
    // 16 MB of spaces gzip to about 16 KB: small on the wire, 64× the cap once inflated.
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20), { level: 9 });
    assert.ok(bomb.length < TEST_FETCH.maxBytes, "the compressed bomb itself is under the cap");
    server.routes.set("/bomb", (_req, res) => {
      res.writeHead(200, { "content-encoding": "gzip", "content-type": "application/rss+xml" }).end(bomb);
    });
    const error = await fetchError(fetchFeed(`${server.base}/bomb`, NO_VALIDATORS, TEST_FETCH));
    assert.equal(error.code, "too-large");
  });

  it("follows redirects up to the limit and no further", async () => {
    server.routes.set("/r-final", serve(rss([{ title: "landed" }])));
    server.routes.set("/r1", (_req, res) => res.writeHead(301, { location: "/r-final" }).end());
    const ok = await fetchFeed(`${server.base}/r1`, NO_VALIDATORS, TEST_FETCH);
    assert.equal(ok.kind === "ok" && ok.url, `${server.base}/r-final`);
    server.routes.set("/loop", (_req, res) => res.writeHead(302, { location: "/loop" }).end());
    const error = await fetchError(fetchFeed(`${server.base}/loop`, NO_VALIDATORS, TEST_FETCH));
    assert.equal(error.code, "too-many-redirects");
  });

  it("reports a refused connection as a network error", async () => {
    const error = await fetchError(fetchFeed("http://127.0.0.1:9/", NO_VALIDATORS, TEST_FETCH));
    assert.equal(error.code, "network");
  });
});
