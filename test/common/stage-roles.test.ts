import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
// node-postgres's own SCRAM client: an implementation this project did not write, used to check
// that the verifier the migrator stores is one a real client can authenticate against.
// @ts-expect-error: an internal CommonJS module without types.
import * as sasl from "pg/lib/crypto/sasl.js";
import * as z from "zod";
import { openStageContext } from "../../services/common/adapters.ts";
import { closeDatabase, connectDatabase, type DatabasePool, sql } from "../../services/common/db.ts";
import { silentLogger } from "../../services/common/logger.ts";
import { MIGRATIONS_DIR } from "../../services/common/migrator.ts";
import {
  STAGE_ROLE_NAMES,
  STAGE_ROLES,
  scramVerifier,
  setRolePasswords,
} from "../../services/common/roles.ts";
import {
  createDatabase,
  dropDatabase,
  stageRoleUrl,
  TEST_POOL_OPTIONS,
  TEST_ROLE_PASSWORD,
  useTestDatabase,
} from "../helpers/db.ts";

const saslClient = sasl as unknown as {
  startSession(mechanisms: string[]): { clientNonce: string; response: string; serverSignature?: string };
  continueSession(session: object, password: string, serverData: string): Promise<void>;
  finalizeSession(session: object, serverData: string): void;
};

async function expectDenied(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    // slonik wraps the driver's error; the SQLSTATE is on the cause.
    const code =
      (error as { code?: string; cause?: { code?: string } }).cause?.code ??
      (error as { code?: string }).code;
    assert.equal(code, "42501", `expected permission denied, got ${String(error)}`);
    return true;
  });
}

/** Logs in with `password` against a verifier the way a server would check it; true when it accepts. */
async function scramAccepts(verifier: string, password: string): Promise<boolean> {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  assert.ok(match, `not a SCRAM-SHA-256 verifier: ${verifier}`);
  const [, iterations, salt, storedKey, serverKey] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  const session = saslClient.startSession(["SCRAM-SHA-256"]);
  const serverFirst = `r=${session.clientNonce}server-nonce,s=${salt},i=${iterations}`;
  await saslClient.continueSession(session, password, serverFirst);
  const clientFinal = session.response;
  const withoutProof = clientFinal.slice(0, clientFinal.indexOf(",p="));
  const proof = Buffer.from(clientFinal.slice(clientFinal.indexOf(",p=") + 3), "base64");
  const authMessage = `n=*,r=${session.clientNonce},${serverFirst},${withoutProof}`;
  const clientSignature = createHmac("sha256", Buffer.from(storedKey, "base64")).update(authMessage).digest();
  const clientKey = Buffer.from(proof.map((byte, i) => byte ^ (clientSignature[i] ?? 0)));
  if (!createHash("sha256").update(clientKey).digest().equals(Buffer.from(storedKey, "base64"))) return false;
  const serverSignature = createHmac("sha256", Buffer.from(serverKey, "base64")).update(authMessage).digest();
  saslClient.finalizeSession(session, `v=${serverSignature.toString("base64")}`);
  return true;
}

/** Tables and views in public that no stage role but backup (which reads everything) holds any right on. */
async function ungrantedTables(pool: DatabasePool): Promise<readonly string[]> {
  const roles = sql.array(
    STAGE_ROLE_NAMES.filter((role) => role !== "ops_backup"),
    "text",
  );
  return pool.anyFirst(sql.type(z.object({ t: z.string() }))`
    SELECT c.relname AS t
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v')
      AND NOT EXISTS (
        SELECT 1 FROM information_schema.role_table_grants g
        WHERE g.table_schema = 'public' AND g.table_name = c.relname AND g.grantee = ANY(${roles}))
      AND NOT EXISTS (
        SELECT 1 FROM information_schema.role_column_grants g
        WHERE g.table_schema = 'public' AND g.table_name = c.relname AND g.grantee = ANY(${roles}))
    ORDER BY 1`);
}

describe("stage roles (sql/0090_stage_roles.sql)", () => {
  describe("as ops_ingest", () => {
    const db = useTestDatabase({ role: STAGE_ROLES["inbound-dock"] });

    it("logs in as its own role, not as the owner", async () => {
      const who =
        await db.stagePool.oneFirst(sql.type(z.object({ u: z.string() }))`SELECT current_user AS u`);
      assert.equal(who, "ops_ingest");
    });

    it("cannot update a recommendation, insert one or delete raw events", async () => {
      await expectDenied(
        db.stagePool.query(sql.unsafe`UPDATE dispatch_recommendations SET status = 'EXECUTED'`),
      );
      await expectDenied(
        db.stagePool.query(sql.unsafe`
          INSERT INTO dispatch_recommendations (ticker, side, as_of, cooldown_until, rule_version, sentiment,
            event_count, close, sma20, threshold, inputs)
          VALUES ('ACME', 'BUY', now(), now() + interval '1 hour', 't', 1, 1, 1, 1, 0.1, '{}')`),
      );
      await expectDenied(db.stagePool.query(sql.unsafe`DELETE FROM inbound_events_raw`));
      await expectDenied(db.stagePool.query(sql.unsafe`UPDATE inbound_events_raw SET processed_at = now()`));
    });

    it("cannot create a table or change the parameters", async () => {
      await expectDenied(db.stagePool.query(sql.unsafe`CREATE TABLE ingest_was_here (id int)`));
      await expectDenied(
        db.stagePool.query(
          sql.unsafe`INSERT INTO params (key, value, updated_by) VALUES ('dry-run', 'false', 'x')`,
        ),
      );
    });

    it("may insert raw events, which is its job", async () => {
      await db.stagePool.query(sql.unsafe`
        INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at)
        VALUES ('role-test-1', 'Acme beats', now(), now())`);
    });
  });

  describe("the dispatcher", () => {
    const db = useTestDatabase({ role: STAGE_ROLES.dispatcher });

    it("may move a recommendation's status but never rewrite what it was made from", async () => {
      await db.pool.query(sql.unsafe`
        INSERT INTO dispatch_recommendations (ticker, side, as_of, cooldown_until, rule_version, sentiment,
          event_count, close, sma20, threshold, inputs)
        VALUES ('ACME', 'BUY', now(), now() + interval '1 hour', 't', 1, 1, 1, 1, 0.1, '{}')`);
      await db.stagePool.query(
        sql.unsafe`UPDATE dispatch_recommendations SET claimed_by = 'd1', claimed_at = now()`,
      );
      await expectDenied(
        db.stagePool.query(sql.unsafe`UPDATE dispatch_recommendations SET inputs = '{"forged":1}'`),
      );
      await expectDenied(db.stagePool.query(sql.unsafe`UPDATE dispatch_recommendations SET close = 2`));
    });
  });

  describe("the watchdog", () => {
    const db = useTestDatabase({ role: STAGE_ROLES.watchdog });

    it("reads the pipeline's tables and writes nothing but its alert state and heartbeat", async () => {
      await db.stagePool.query(sql.unsafe`SELECT count(*) FROM inbound_events_raw`);
      await db.stagePool.query(sql.unsafe`SELECT count(*) FROM dispatch_recommendations`);
      await expectDenied(db.stagePool.query(sql.unsafe`DELETE FROM dispatch_recommendations`));
      await expectDenied(db.stagePool.query(sql.unsafe`UPDATE feed_state SET etag = NULL`));
    });
  });

  describe("backup", () => {
    const db = useTestDatabase({ role: STAGE_ROLES.backup });

    it("reads every table (what pg_dump needs) and changes none of the pipeline's", async () => {
      const tables = await db.pool.anyFirst(sql.type(z.object({ t: z.string() }))`
        SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
      assert.ok(tables.length > 10);
      for (const table of tables) {
        await db.stagePool.query(sql.unsafe`SELECT 1 FROM ${sql.identifier([table])} LIMIT 1`);
      }
      await expectDenied(db.stagePool.query(sql.unsafe`DELETE FROM inbound_events_raw`));
      await expectDenied(db.stagePool.query(sql.unsafe`UPDATE params SET value = 'false'`));
    });
  });

  describe("the rule: every table is granted to a stage role", () => {
    const db = useTestDatabase();

    it("leaves no table in public without a grant to some stage role besides backup (grant it in a migration from 0090 on)", async () => {
      const ungranted = await ungrantedTables(db.pool);
      assert.deepEqual(ungranted, [], `tables without a stage grant: ${ungranted.join(", ")}`);
    });

    it("the check names a table nobody granted", async () => {
      await db.pool.query(sql.unsafe`CREATE TABLE rule_probe (id int)`);
      try {
        assert.deepEqual(await ungrantedTables(db.pool), ["rule_probe"]);
      } finally {
        await db.pool.query(sql.unsafe`DROP TABLE rule_probe`);
      }
    });

    it("no stage role may create roles or databases, replicate or bypass permissions", async () => {
      const powerful = await db.pool.anyFirst(sql.type(z.object({ r: z.string() }))`
        SELECT rolname AS r FROM pg_roles
        WHERE rolname = ANY(${sql.array([...STAGE_ROLE_NAMES], "text")})
          AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)`);
      assert.deepEqual(powerful, []);
      const existing = await db.pool.anyFirst(sql.type(z.object({ r: z.string() }))`
        SELECT rolname AS r FROM pg_roles WHERE rolname = ANY(${sql.array([...STAGE_ROLE_NAMES], "text")})`);
      assert.equal(existing.length, STAGE_ROLE_NAMES.length);
    });
  });

  describe("creating the roles", () => {
    it("is idempotent and safe when several databases on one server migrate at once", async () => {
      const text = await readFile(path.join(MIGRATIONS_DIR, "0090_stage_roles.sql"), "utf8");
      const databases = await Promise.all([1, 2, 3, 4].map(() => createDatabase({ migrated: true })));
      try {
        // The roles already exist (the template was migrated): every copy re-runs the file at once.
        await Promise.all(
          databases.map(async ({ url }) => {
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            try {
              await client.query("BEGIN");
              await client.query(text);
              await client.query("COMMIT");
            } finally {
              await client.end();
            }
          }),
        );
      } finally {
        await Promise.all(databases.map(({ name }) => dropDatabase(name)));
      }
    });
  });

  describe("a stage process outside AWS (OPS_DB_LOGIN_AS_STAGE_ROLE)", () => {
    const db = useTestDatabase();

    it("logs the stage in as its own role, the user of DATABASE_URL replaced", async () => {
      await stageRoleUrl(db.url, "ops_ingest"); // sets the test password where the server checks one
      const { context, close } = await openStageContext(
        "inbound-dock",
        {
          DATABASE_URL: db.url,
          OPS_DB_LOGIN_AS_STAGE_ROLE: "true",
          OPS_DB_ROLE_PASSWORD: TEST_ROLE_PASSWORD,
          OPS_DB_POOL_SIZE: "1",
        },
        silentLogger(),
      );
      try {
        const who =
          await context.db.oneFirst(sql.type(z.object({ u: z.string() }))`SELECT current_user AS u`);
        assert.equal(who, "ops_ingest");
      } finally {
        await close();
      }
    });

    it("refuses a process whose stage has no role, naming the setting", async () => {
      await assert.rejects(
        openStageContext(
          "not-a-stage",
          { DATABASE_URL: db.url, OPS_DB_LOGIN_AS_STAGE_ROLE: "true" },
          silentLogger(),
        ),
        /OPS_DB_LOGIN_AS_STAGE_ROLE/,
      );
    });
  });

  describe("role passwords", () => {
    it("stores a SCRAM-SHA-256 verifier node-postgres's client authenticates against, and only with the right password", async () => {
      const verifier = scramVerifier("correct horse battery staple");
      assert.doesNotMatch(verifier, /correct horse/);
      assert.equal(await scramAccepts(verifier, "correct horse battery staple"), true);
      assert.equal(await scramAccepts(verifier, "wrong password"), false);
    });

    it("refuses to set the password of a role that is not a stage role", async () => {
      const { name, url } = await createDatabase({ migrated: true });
      try {
        await assert.rejects(
          setRolePasswords(url, { postgres: "x" } as unknown as Record<"ops_ingest", string>),
          /postgres is not a stage role/,
        );
      } finally {
        await dropDatabase(name);
      }
    });

    it("a role logs in with the password set through setRolePasswords", async () => {
      const { name, url } = await createDatabase({ migrated: true });
      let pool: DatabasePool | undefined;
      try {
        pool = await connectDatabase({ url: await stageRoleUrl(url, "ops_engine"), ...TEST_POOL_OPTIONS });
        const who = await pool.oneFirst(sql.type(z.object({ u: z.string() }))`SELECT current_user AS u`);
        assert.equal(who, "ops_engine");
      } finally {
        if (pool) await closeDatabase(pool);
        await dropDatabase(name);
      }
    });
  });
});
