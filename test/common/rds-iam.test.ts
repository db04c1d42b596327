import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseDsn } from "@slonik/utilities";
import * as z from "zod";
import { FakeClock } from "../../services/common/clock.ts";
import { loadConfig } from "../../services/common/config.ts";
import { connectDatabase, sql } from "../../services/common/db.ts";
import { ConfigError } from "../../services/common/errors.ts";
import {
  libpqVerifyFull,
  RDS_TOKEN_REUSE_MS,
  rdsAuthToken,
  rdsIamDatabaseUrl,
  rdsIamPassword,
} from "../../services/common/rds-iam.ts";
import { TEST_POOL_OPTIONS, useTestDatabase } from "../helpers/db.ts";

const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const host = "ops-pipeline-dev.abc.us-east-1.rds.amazonaws.com";

/** SigV4 of a presigned GET, written out from the spec, independently of @smithy/signature-v4. */
function expectedSignature(query: URLSearchParams, amzDate: string): string {
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const canonicalQuery = [...query.entries()]
    .filter(([key]) => key !== "X-Amz-Signature")
    .map(([key, value]) => [enc(key), enc(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join("&");
  const canonicalRequest = [
    "GET",
    "/",
    canonicalQuery,
    `host:${host}:5432`,
    "",
    "host",
    createHash("sha256").update("").digest("hex"),
  ].join("\n");
  const day = amzDate.slice(0, 8);
  const scope = `${day}/us-east-1/rds-db/aws4_request`;
  const toSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of ["us-east-1", "rds-db", "aws4_request"]) key = hmac(key, part);
  return createHmac("sha256", key).update(toSign).digest("hex");
}

describe("RDS IAM database authentication", () => {
  it("signs a 15-minute connect token for one database user, as RDS expects it in the password", async () => {
    const token = await rdsAuthToken({
      host,
      port: 5432,
      user: "ops_ingest",
      region: "us-east-1",
      credentials,
      now: new Date("2026-12-01T23:00:00Z"),
    });
    assert.ok(token.startsWith(`${host}:5432/?`), "no scheme, host:port first");
    const query = new URL(`https://${token}`).searchParams;
    assert.equal(query.get("Action"), "connect");
    assert.equal(query.get("DBUser"), "ops_ingest");
    assert.equal(query.get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert.equal(query.get("X-Amz-Credential"), "AKIDEXAMPLE/20261201/us-east-1/rds-db/aws4_request");
    assert.equal(query.get("X-Amz-Date"), "20261201T230000Z");
    assert.equal(query.get("X-Amz-Expires"), "900");
    assert.equal(query.get("X-Amz-SignedHeaders"), "host");
    assert.equal(query.get("X-Amz-Signature"), expectedSignature(query, "20261201T230000Z"));
  });

  it("signs a different token for another user: a stage's token never logs in as another role", async () => {
    const sign = (user: string) =>
      rdsAuthToken({
        host,
        port: 5432,
        user,
        region: "us-east-1",
        credentials,
        now: new Date("2026-12-01T23:00:00Z"),
      });
    assert.notEqual(await sign("ops_ingest"), await sign("ops_dispatcher"));
  });

  it("reuses a token for 10 minutes and signs a new one after", async () => {
    const clock = new FakeClock("2026-12-01T23:00:00Z");
    const password = rdsIamPassword({
      host,
      port: 5432,
      user: "ops_engine",
      region: "us-east-1",
      credentials,
      clock,
    });
    const first = await password();
    clock.advance(RDS_TOKEN_REUSE_MS - 1);
    assert.equal(await password(), first);
    clock.advance(1);
    const second = await password();
    assert.notEqual(second, first);
    assert.match(new URL(`https://${second}`).searchParams.get("X-Amz-Date")!, /^20261201T231000Z$/);
  });

  it("builds a URL with the role as user and no password, verifying the server when a CA bundle is given", () => {
    const plain = new URL(rdsIamDatabaseUrl({ host, port: 5432, dbname: "ops" }, "ops_api"));
    assert.equal(plain.username, "ops_api");
    assert.equal(plain.password, "");
    assert.equal(plain.searchParams.get("sslmode"), "require");
    const verified = new URL(
      rdsIamDatabaseUrl(
        { host, port: 5432, dbname: "ops", sslRootCert: "/etc/ssl/certs/rds.pem" },
        "ops_api",
      ),
    );
    // slonik accepts only disable/no-verify/require; with the root certificate it verifies.
    assert.equal(verified.searchParams.get("sslmode"), "require");
    assert.equal(verified.searchParams.get("sslrootcert"), "/etc/ssl/certs/rds.pem");
    const ca = path.join(mkdtempSync(path.join(os.tmpdir(), "rds-ca-")), "ca.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    const parsed = parseDsn(
      rdsIamDatabaseUrl({ host, port: 5432, dbname: "ops", sslRootCert: ca }, "ops_api"),
    );
    assert.deepEqual(
      { ca: parsed.ssl?.ca, rejectUnauthorized: parsed.ssl?.rejectUnauthorized },
      { ca: readFileSync(ca, "utf8"), rejectUnauthorized: true },
      "the pool verifies the server against the bundle",
    );
    assert.equal(new URL(libpqVerifyFull(verified.toString())).searchParams.get("sslmode"), "verify-full");
    assert.equal(new URL(libpqVerifyFull(plain.toString())).searchParams.get("sslmode"), "require");
  });

  it("reads OPS_DB_IAM_ENDPOINT as host:port/dbname and refuses anything else", () => {
    assert.deepEqual(loadConfig({ OPS_DB_IAM_ENDPOINT: `${host}:5432/ops` }).database.iam, {
      host,
      port: 5432,
      dbname: "ops",
    });
    assert.throws(() => loadConfig({ OPS_DB_IAM_ENDPOINT: `${host}/ops` }), ConfigError);
    assert.throws(() => loadConfig({ OPS_DB_IAM_ENDPOINT: `${host}:99999/ops` }), ConfigError);
  });

  describe("the pool", () => {
    const db = useTestDatabase();

    it("asks the password function for every new connection", async () => {
      let calls = 0;
      const pool = await connectDatabase({
        url: db.url,
        ...TEST_POOL_OPTIONS,
        maximumPoolSize: 2,
        // The server's own password (the embedded server checks it; a trust-auth server ignores
        // it), so the connection proves the pool used what the function returned.
        password: async () => {
          calls += 1;
          return decodeURIComponent(new URL(db.url).password);
        },
      });
      try {
        await Promise.all([
          pool.query(sql.type(z.object({ one: z.number() }))`SELECT 1::int AS one, pg_sleep(0.05)`),
          pool.query(sql.type(z.object({ one: z.number() }))`SELECT 1::int AS one, pg_sleep(0.05)`),
        ]);
      } finally {
        await pool.end();
      }
      // Two concurrent queries need two connections, each with its own token; slonik may open one
      // more of its own (it reads type OIDs on a separate connection), which asks too.
      assert.ok(calls >= 2 && calls <= 3, `two or three connections, as many tokens (got ${calls})`);
    });
  });
});
