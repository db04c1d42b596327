import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger } from "../../services/common/logger.ts";

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
});
