import assert from "node:assert/strict";
import pg from "pg";
import { CLASSIFIED_EVENTS_CHANNEL } from "../../services/common/channels.ts";
import { sql } from "../../services/common/db.ts";
import { silentLogger } from "../../services/common/logger.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { notifyEngineWaker } from "../../services/sortation/engine-waker.ts";
import { type ClassifiedRow, completeBatch } from "../../services/sortation/queries.ts";
import { useTestDatabase } from "../helpers/db.ts";

describe("sortation's classified-events NOTIFY (the engine's local event-driven wake-up)", () => {
  const db = useTestDatabase({ role: STAGE_ROLES.sortation });
  // What the worker does after each batch: complete it, then wake the engine for its tickers.
  const complete = async (rows: ClassifiedRow[]) => {
    const done = await completeBatch(db.stagePool, { worker: "w", now: new Date(), rows });
    await notifyEngineWaker(db.stagePool, silentLogger()).classified(done.tickers);
  };
  let uid = 0;

  async function rawRow(): Promise<number> {
    uid += 1;
    return (await db.pool.oneFirst(sql.unsafe`
      INSERT INTO inbound_events_raw (event_uid, title, published_at, fetched_at)
      VALUES (${`notify:${process.pid}:${uid}`}, 'a headline', now(), now()) RETURNING id`)) as number;
  }

  const classified = (rawId: number, tickers: string[]): ClassifiedRow => ({
    rawId,
    label: "positive",
    pPositive: 0.9,
    pNegative: 0.05,
    pNeutral: 0.05,
    score: 0.85,
    classifier: "lexicon",
    modelId: "test",
    modelRevision: null,
    modelDtype: null,
    tickers,
    tickerEvidence: tickers.map((ticker) => ({ ticker, via: "cashtag", text: `$${ticker}` })),
  });

  async function listen(): Promise<{ payloads: string[]; client: pg.Client }> {
    const client = new pg.Client({ connectionString: db.url });
    const payloads: string[] = [];
    client.on("notification", (message) => {
      if (message.channel === CLASSIFIED_EVENTS_CHANNEL) payloads.push(message.payload ?? "");
    });
    await client.connect();
    await client.query(`LISTEN ${CLASSIFIED_EVENTS_CHANNEL}`);
    return { payloads, client };
  }

  it("sends one notification per completed batch with its distinct tickers, and none for a batch without tickers", async () => {
    const { payloads, client } = await listen();
    try {
      const [a, b, c] = [await rawRow(), await rawRow(), await rawRow()];
      await complete([classified(a, ["MSFT", "AAPL"]), classified(b, ["AAPL"]), classified(c, [])]);
      await complete([classified(await rawRow(), [])]);
      // A batch another worker had already completed inserts nothing and wakes nobody.
      await complete([classified(a, ["MSFT", "AAPL"])]);
      // A round trip on the listening connection delivers everything committed before it.
      await client.query("SELECT 1");
      assert.deepEqual(payloads, ["AAPL MSFT"]);
    } finally {
      await client.end();
    }
  });

  it("sends an empty payload (every ticker) when the list would not fit in one notification", async () => {
    const { payloads, client } = await listen();
    try {
      const tickers = Array.from({ length: 1_500 }, (_, i) => `T${String(i).padStart(5, "0")}`);
      await complete([classified(await rawRow(), tickers)]);
      await client.query("SELECT 1");
      assert.deepEqual(payloads, [""]);
    } finally {
      await client.end();
    }
  });
});
