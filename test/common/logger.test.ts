import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { loadConfig } from "../../services/common/config.ts";
import { createLogger, localLogDestination, prettyOn, urlOrigin } from "../../services/common/logger.ts";

describe("logger", () => {
  it("redacts secrets by path, however deep a careless call puts them", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const root = createLogger({ level: "info", pretty: false, destination: sink });
    const log = root.child({ stage: "test" });
    log.info(
      {
        config: { databaseUrl: "postgres://app:s3cret@db/ops", apiKey: "AKIA123" },
        password: "hunter2",
        request: { headers: { authorization: "Bearer tok" } },
      },
      "started",
    );
    const text = lines.join("");
    for (const secret of ["s3cret", "AKIA123", "hunter2", "Bearer tok"])
      assert.ok(!text.includes(secret), secret);
    const line = JSON.parse(text) as Record<string, unknown>;
    assert.equal(line.stage, "test");
    assert.equal(line.level, "info");
    assert.equal(line.msg, "started");
  });

  it("logs a whole config object, deep secrets and child bindings without a single secret", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const config = loadConfig({
      DATABASE_URL: "postgres://ops:db-pa55word@db.internal:5432/ops?sslmode=verify-full",
      OPS_ALERT_WEBHOOK_URL: "https://hooks.example/services/T000/B000/webhook-token-XYZ",
      OPS_ALPACA_BASE_URL: "https://paper-api.alpaca.markets",
    });
    const root = createLogger({ level: "info", pretty: false, destination: sink });
    const log = root.child({ stage: "t", connection: { connectionString: "postgres://u:child-secret@h/d" } });
    log.info(
      {
        config,
        keys: { keyId: "PKTESTKEYID", secretKey: "alpaca-secret-value" },
        deep: { a: { b: { c: { d: { password: "deep-hunter2", Authorization: "Bearer deep-token" } } } } },
        request: { headers: { "APCA-API-SECRET-KEY": "header-secret" } },
        list: [{ token: "list-token" }],
        tokens: 512,
      },
      "config loaded",
    );
    const text = lines.join("");
    for (const secret of [
      "db-pa55word",
      "webhook-token-XYZ",
      "PKTESTKEYID",
      "alpaca-secret-value",
      "deep-hunter2",
      "deep-token",
      "header-secret",
      "list-token",
      "child-secret",
    ]) {
      assert.ok(!text.includes(secret), `${secret} was logged: ${text}`);
    }
    const line = JSON.parse(text) as {
      config: { database: { url: string }; dispatcher: { alpaca: { baseUrl: string } } };
      tokens: number;
    };
    // What identifies an endpoint stays: its origin.
    assert.equal(line.config.database.url, "postgres://db.internal:5432/…");
    assert.equal(line.config.dispatcher.alpaca.baseUrl, "https://paper-api.alpaca.markets");
    assert.equal(line.tokens, 512);
  });

  it("reduces a URL to its origin and censors what is not a URL", () => {
    assert.equal(urlOrigin("https://a.example"), "https://a.example");
    assert.equal(urlOrigin("https://u:p@a.example/x?y=1"), "https://a.example/…");
    assert.equal(urlOrigin("not a url with secret"), "[redacted]");
  });

  describe("opsctl dev's destination", () => {
    let dir: string;
    let runs = 0;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "ops-logger-"));
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    const logTo = async (console: (fd: number) => Parameters<typeof localLogDestination>[1]["console"]) => {
      runs += 1;
      const file = path.join(dir, `ops-${runs}.log`);
      const consoleFile = path.join(dir, `console-${runs}.txt`);
      const fd = openSync(consoleFile, "w");
      try {
        const destination = localLogDestination(file, { level: "info", console: console(fd) });
        const log = createLogger({ level: "info", pretty: false, destination, base: { service: "t" } });
        log.info({ stage: "sortation", password: "hunter2" }, "claimed 3");
        log.debug("not at this level");
        // The file stream opens asynchronously; flushSync needs it open.
        await new Promise((resolve) => setTimeout(resolve, 50));
        destination.flushSync();
      } finally {
        closeSync(fd);
      }
      return { file: await readFile(file, "utf8"), console: await readFile(consoleFile, "utf8") };
    };

    it("writes JSON lines to the file and pino-pretty's lines to a terminal, redacted in both", async () => {
      const out = await logTo((fd) => ({ pretty: true, color: false, fd }));
      const line = JSON.parse(out.file.trim()) as Record<string, unknown>;
      assert.equal(line.msg, "claimed 3");
      assert.equal(line.stage, "sortation");
      assert.match(out.console, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: claimed 3 .*"stage":"sortation"/);
      for (const text of [out.file, out.console]) {
        assert.ok(!text.includes("hunter2"));
        assert.ok(!text.includes("not at this level"));
      }
    });

    it("writes JSON to the console when not pretty, and nothing there when a dashboard owns it", async () => {
      const json = await logTo((fd) => ({ pretty: false, color: false, fd }));
      assert.equal((JSON.parse(json.console.trim()) as { msg: string }).msg, "claimed 3");
      const dashboard = await logTo(() => false);
      assert.equal(dashboard.console, "");
      assert.equal((JSON.parse(dashboard.file.trim()) as { msg: string }).msg, "claimed 3");
    });

    it("is pretty for LOG_FORMAT=pretty, or auto on a terminal", () => {
      assert.equal(prettyOn("pretty", false), true);
      assert.equal(prettyOn("auto", true), true);
      assert.equal(prettyOn("auto", false), false);
      assert.equal(prettyOn("json", true), false);
    });
  });
});
