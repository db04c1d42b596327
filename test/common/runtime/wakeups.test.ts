import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import * as z from "zod";
import { INBOUND_EVENTS_CHANNEL, RECOMMENDATIONS_CHANNEL } from "../../../services/common/channels.ts";
import { FakeClock } from "../../../services/common/clock.ts";
import { sql } from "../../../services/common/db.ts";
import { listHeartbeats } from "../../../services/common/heartbeats.ts";
import { silentLogger } from "../../../services/common/logger.ts";
import { runBatchLoop } from "../../../services/common/runtime/batch-loop.ts";
import {
  type ListeningWakeSource,
  listenForWakeups,
  pollOnly,
  Waker,
} from "../../../services/common/runtime/wakeups.ts";
import { useTestDatabase } from "../../helpers/db.ts";

const quiet = silentLogger();

describe("runtime wake-ups (LISTEN with poll fallback)", () => {
  const db = useTestDatabase();
  const open: ListeningWakeSource[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((source) => source.close()));
  });

  const listen = async (applicationName: string, reconnectBackoffMs?: number[]) => {
    const source = await listenForWakeups({
      connectionString: db.url,
      channel: INBOUND_EVENTS_CHANNEL,
      logger: quiet,
      applicationName,
      ...(reconnectBackoffMs ? { reconnectBackoffMs } : {}),
    });
    open.push(source);
    return source;
  };
  const notify = (channel = INBOUND_EVENTS_CHANNEL) =>
    db.pool.query(sql.unsafe`SELECT pg_notify(${channel}, '')`);
  /** Drops the LISTEN connection from the server side, as a restart or a failover would. */
  const dropConnection = async (applicationName: string) => {
    const killed = await db.pool.one(sql.type(z.object({ n: z.number() }))`
      SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE application_name = ${applicationName}`);
    assert.equal(killed.n, 1, "one LISTEN connection to drop");
  };
  const until = async (check: () => boolean) => {
    while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
  };

  it("wakes on a NOTIFY on its channel before the poll interval, and on the interval without one", async () => {
    const wakeups = await listen("wake-basic");
    const controller = new AbortController();
    assert.equal(wakeups.listening, true);
    // Right after LISTEN it reports work once: rows may have arrived while nobody listened.
    assert.equal(await wakeups.wait(60_000, controller.signal), "notified");
    const waiting = wakeups.wait(60_000, controller.signal);
    await notify();
    assert.equal(await waiting, "notified");
    // Another stage's channel does not wake it.
    await notify(RECOMMENDATIONS_CHANNEL);
    assert.equal(await wakeups.wait(30, controller.signal), "timeout");
    const aborted = wakeups.wait(60_000, controller.signal);
    controller.abort();
    assert.equal(await aborted, "aborted");
  });

  it("reopens a dropped connection and is woken through the new one", async () => {
    const wakeups = await listen("wake-dropped", [50]);
    const signal = new AbortController().signal;
    await wakeups.wait(60_000, signal);
    await dropConnection("wake-dropped");
    await until(() => !wakeups.listening);
    await wakeups.whenListening();
    assert.equal(wakeups.listening, true);
    // The reopened connection counts as a wake-up (notifications in the gap are lost)...
    assert.equal(await wakeups.wait(60_000, signal), "notified");
    // ...and later notifications arrive on it.
    const waiting = wakeups.wait(60_000, signal);
    await notify();
    assert.equal(await waiting, "notified");
  });

  it("wakes a waiter whose NOTIFY was sent while the connection was being reopened", async () => {
    const wakeups = await listen("wake-during-reconnect", [300]);
    const signal = new AbortController().signal;
    await wakeups.wait(60_000, signal);
    await dropConnection("wake-during-reconnect");
    await until(() => !wakeups.listening);
    const waiting = wakeups.wait(60_000, signal);
    await notify(); // nobody is listening: PostgreSQL drops it
    assert.equal(wakeups.listening, false);
    assert.equal(await waiting, "notified");
    assert.equal(wakeups.listening, true);
  });

  it("answers aborted to a wait aborted while reconnecting, and closes without waiting out the backoff", async () => {
    const wakeups = await listen("wake-abort", [3_600_000]);
    const signal = new AbortController().signal;
    await wakeups.wait(60_000, signal);
    await dropConnection("wake-abort");
    await until(() => !wakeups.listening);
    const run = new AbortController();
    const waiting = wakeups.wait(60_000, run.signal);
    run.abort();
    assert.equal(await waiting, "aborted");
    await wakeups.close(); // an hour's backoff pending: close must not wait for it
    assert.equal(wakeups.listening, false);
  });

  it("polls when the database cannot be reached at start, without throwing", async () => {
    const wakeups = await listenForWakeups({
      connectionString: "postgres://nobody@127.0.0.1:1/none",
      channel: INBOUND_EVENTS_CHANNEL,
      logger: quiet,
      reconnectBackoffMs: [3_600_000],
    });
    try {
      assert.equal(wakeups.listening, false);
      assert.equal(await wakeups.wait(20, new AbortController().signal), "timeout");
    } finally {
      await wakeups.close();
    }
  });
});

describe("the in-process waker", () => {
  it("leaves no timer or abort listener behind a wait that a wake-up ended", async () => {
    const waker = new Waker();
    const run = new AbortController();
    for (let i = 0; i < 20; i++) {
      const waiting = waker.wait(60_000, run.signal);
      waker.wake();
      assert.equal(await waiting, "notified");
    }
    assert.equal(getEventListeners(run.signal, "abort").length, 0);
    const waiting = waker.wait(60_000, run.signal);
    run.abort();
    assert.equal(await waiting, "aborted");
  });

  it("remembers a wake-up that came while nobody waited (during a batch)", async () => {
    const waker = new Waker();
    waker.wake();
    assert.equal(await waker.wait(1, new AbortController().signal), "notified");
    assert.equal(await waker.wait(1, new AbortController().signal), "timeout");
  });

  it("returns timeout when nothing wakes it", async () => {
    assert.equal(await new Waker().wait(10, new AbortController().signal), "timeout");
  });
});

describe("the batch loop", () => {
  const db = useTestDatabase();

  it("goes again at once after a full batch, survives a failed one, beats after each, and stops on abort", async () => {
    const controller = new AbortController();
    const clock = new FakeClock("2026-12-01T15:00:00Z");
    const waits: string[] = [];
    const results = ["full", "fail", "partial"];
    const source = pollOnly();
    const seen: string[] = [];
    await runBatchLoop<string>({
      signal: controller.signal,
      wakeups: {
        listening: false,
        close: () => source.close(),
        wait: async (ms, signal) => {
          waits.push(`wait ${ms}`);
          return source.wait(1, signal);
        },
      },
      pollIntervalMs: 60_000,
      logger: quiet,
      batch: async () => {
        const next = results.shift();
        if (next === undefined) {
          controller.abort();
          return "full";
        }
        if (next === "fail") throw new Error("database unreachable");
        return next;
      },
      isFull: (result) => result === "full",
      afterBatch: (outcome) => {
        seen.push(outcome.ok ? outcome.result : `error: ${(outcome.error as Error).message}`);
        clock.advance(1_000);
      },
      heartbeat: {
        db: db.pool,
        clock,
        stage: "test-loop",
        instance: "me",
        details: (outcome) => ({ ok: outcome.ok }),
      },
    });
    assert.deepEqual(seen, ["full", "error: database unreachable", "partial", "full"]);
    // No wait after the full batch; the poll interval after the failed and the partial one.
    assert.deepEqual(waits, ["wait 60000", "wait 60000"]);
    const beat = (await listHeartbeats(db.pool)).find((row) => row.stage === "test-loop");
    assert.equal(beat?.beat_at, clock.now().getTime());
  });
});
