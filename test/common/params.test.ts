import assert from "node:assert/strict";
import { SSMClient } from "@aws-sdk/client-ssm";
import { FakeClock } from "../../services/common/clock.ts";
import { defaultParams } from "../../services/common/params/definitions.ts";
import {
  listParamAudit,
  postgresParameterStore,
  recordParamAudit,
} from "../../services/common/params/postgres.ts";
import { ssmParameterStore } from "../../services/common/params/ssm.ts";
import {
  cachedParameterStore,
  InvalidParameterError,
  type ParameterStore,
} from "../../services/common/params/store.ts";
import {
  AwsJsonError,
  type AwsJsonServer,
  FAKE_CREDENTIALS,
  startAwsJsonServer,
} from "../helpers/aws-json-server.ts";
import { useTestDatabase } from "../helpers/db.ts";

/** An in-memory SSM Parameter Store behind the real SDK, over HTTP. */
async function fakeSsm(): Promise<{ server: AwsJsonServer; values: Map<string, string> }> {
  const values = new Map<string, string>();
  const server = await startAwsJsonServer({
    GetParametersByPath: (body) => {
      const prefix = `${String(body.Path)}/`;
      const names = [...values.keys()].filter((name) => name.startsWith(prefix)).sort();
      // Pages of 2 so the adapter's pagination is exercised.
      const start = body.NextToken ? Number(body.NextToken) : 0;
      const page = names.slice(start, start + 2);
      return {
        Parameters: page.map((name) => ({ Name: name, Value: values.get(name), Type: "String" })),
        NextToken: start + 2 < names.length ? String(start + 2) : undefined,
      };
    },
    GetParameter: (body) => {
      const value = values.get(String(body.Name));
      if (value === undefined) throw new AwsJsonError("ParameterNotFound", "not found");
      return { Parameter: { Name: body.Name, Value: value, Type: "String" } };
    },
    PutParameter: (body) => {
      values.set(String(body.Name), String(body.Value));
      return { Version: 1 };
    },
  });
  return { server, values };
}

describe("parameter stores", () => {
  const db = useTestDatabase();

  describe("the Postgres adapter", () => {
    it("returns every default when nothing was ever set, with dry-run on", async () => {
      const params = await postgresParameterStore(db.pool).getAll();
      assert.deepEqual(params, defaultParams());
      assert.equal(params["dry-run"], true);
    });

    it("round-trips a change and audits what, old, new, who", async () => {
      const store = postgresParameterStore(db.pool);
      const first = await store.set("dry-run", false, { changedBy: "alice@laptop", reason: "going live" });
      assert.equal(first.oldValue, null);
      const second = await store.set("dry-run", true, { changedBy: "bob@laptop" });
      assert.equal(second.oldValue, false);
      assert.equal((await store.getAll())["dry-run"], true);
      const audit = (await listParamAudit(db.pool)).filter((entry) => entry.key === "dry-run");
      assert.deepEqual(
        audit.map((entry) => [entry.oldValue, entry.newValue, entry.changedBy, entry.store]),
        [
          [false, true, "bob@laptop", "postgres"],
          [null, false, "alice@laptop", "postgres"],
        ],
      );
      assert.equal(audit[1]?.reason, "going live");
    });

    it("refuses a value that does not fit the parameter's schema and changes nothing", async () => {
      const store = postgresParameterStore(db.pool);
      await assert.rejects(store.set("max-trades-per-day", -1, { changedBy: "t" }), InvalidParameterError);
      assert.equal((await store.getAll())["max-trades-per-day"], defaultParams()["max-trades-per-day"]);
    });
  });

  describe("the SSM adapter, against a local server speaking the SSM protocol", () => {
    let ssm: Awaited<ReturnType<typeof fakeSsm>>;
    let store: ParameterStore;
    const audited: unknown[] = [];
    before(async () => {
      ssm = await fakeSsm();
      store = ssmParameterStore({
        client: new SSMClient({
          region: "us-east-1",
          endpoint: ssm.server.endpoint,
          credentials: FAKE_CREDENTIALS,
        }),
        prefix: "/ops-pipeline/test",
        audit: async (entry) => {
          audited.push(entry);
          await recordParamAudit(db.pool, entry);
        },
      });
    });
    after(() => ssm.server.close());

    it("reads defaults, then a dry-run toggle round-trips as JSON under the stack's prefix", async () => {
      assert.equal((await store.getAll())["dry-run"], true);
      await store.set("dry-run", false, { changedBy: "ops@host" });
      assert.equal(ssm.values.get("/ops-pipeline/test/dry-run"), "false");
      await store.set("watchlist", ["AAPL", "MSFT"], { changedBy: "ops@host" });
      await store.set("max-trades-per-day", 7, { changedBy: "ops@host" });
      const params = await store.getAll();
      assert.equal(params["dry-run"], false);
      assert.deepEqual(params.watchlist, ["AAPL", "MSFT"]);
      assert.equal(params["max-trades-per-day"], 7);
      assert.ok(
        ssm.server.requests.filter((r) => r.operation === "GetParametersByPath").length >= 2,
        "paginated",
      );
    });

    it("audits each change with the old value read from SSM", async () => {
      await store.set("dry-run", true, { changedBy: "ops@host", reason: "back to paper" });
      const last = audited.at(-1) as { oldValue: unknown; newValue: unknown; store: string };
      assert.deepEqual([last.oldValue, last.newValue, last.store], [false, true, "ssm"]);
      const rows = await listParamAudit(db.pool);
      assert.equal(rows[0]?.store, "ssm");
    });

    it("names the parameter when a stored value is not valid JSON", async () => {
      ssm.values.set("/ops-pipeline/test/min-events", "three");
      await assert.rejects(store.getAll(), (error: unknown) => {
        assert.ok(error instanceof InvalidParameterError);
        assert.equal(error.key, "min-events");
        return true;
      });
      ssm.values.delete("/ops-pipeline/test/min-events");
    });
  });

  describe("the cache", () => {
    it("reads through at most once per TTL and drops the cache on a write", async () => {
      let reads = 0;
      const inner = postgresParameterStore(db.pool);
      const counting: ParameterStore = {
        kind: inner.kind,
        getAll: () => {
          reads += 1;
          return inner.getAll();
        },
        set: (key, value, who) => inner.set(key, value, who),
      };
      const clock = new FakeClock("2026-03-02T15:00:00Z");
      const cached = cachedParameterStore(counting, 15_000, clock);
      await cached.getAll();
      clock.advance(14_999);
      await cached.getAll();
      assert.equal(reads, 1);
      clock.advance(1);
      await cached.getAll();
      assert.equal(reads, 2);
      await cached.set("min-events", 4, { changedBy: "t" });
      assert.equal((await cached.getAll())["min-events"], 4);
      assert.equal(reads, 3);
    });
  });
});
