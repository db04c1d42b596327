import assert from "node:assert/strict";
import * as z from "zod";
import { connectDatabase, SchemaValidationError, sql } from "../../services/common/db.ts";
import { freePort } from "../../services/common/embedded-postgres.ts";
import { DatabaseUnavailableError } from "../../services/common/errors.ts";
import { TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";

describe("database pool", () => {
  const db = useTestDatabase();

  it("checks typed rows at run time: a row that does not fit its zod type throws", async () => {
    const row = z.object({ id: z.number(), title: z.string() });
    const ok = await db.pool.one(sql.type(row)`SELECT 1::int8 AS id, 'x' AS title`);
    assert.deepEqual(ok, { id: 1, title: "x" });
    await assert.rejects(db.pool.one(sql.type(row)`SELECT 'one' AS id, 'x' AS title`), SchemaValidationError);
  });

  it("returns int8 as a number and timestamptz as epoch milliseconds", async () => {
    const row = await db.pool.one(
      sql.type(z.object({ big: z.number(), at: z.number() }))`
        SELECT 9007199254740991::int8 AS big, '2026-03-02T15:00:00Z'::timestamptz AS at`,
    );
    assert.equal(row.big, Number.MAX_SAFE_INTEGER);
    assert.equal(row.at, Date.parse("2026-03-02T15:00:00Z"));
    await assert.rejects(
      db.pool.query(sql.unsafe`SELECT 9007199254740993::int8 AS too_big`),
      /MAX_SAFE_INTEGER/,
    );
  });

  it("enforces the statement timeout on the server", async () => {
    const pool = await connectDatabase({ ...TEST_POOL_OPTIONS, url: db.url, statementTimeoutMs: 200 });
    try {
      await assert.rejects(pool.query(sql.unsafe`SELECT pg_sleep(2)`), /timeout|cancel/i);
    } finally {
      await pool.end();
    }
  });

  it("fails with one clear operator error, password hidden, when the server is not there", async () => {
    const port = await freePort();
    const url = `postgres://app:hunter2@127.0.0.1:${port}/nope`;
    await assert.rejects(
      connectDatabase({ ...TEST_POOL_OPTIONS, url, connectTimeoutMs: 1_000 }),
      (error: unknown) => {
        assert.ok(error instanceof DatabaseUnavailableError);
        assert.ok(!error.message.includes("hunter2"), error.message);
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        assert.match(error.hint ?? "", /DATABASE_URL/);
        return true;
      },
    );
  });
});
