// Inbound dock: how long one 10,000-item feed blocks the event loop (issue 17: ~600-750 ms under
// `opsctl dev`, shared by every stage).
//   baseline:  the whole feed in one INSERT ... SELECT FROM unnest(...) (what ingest did)
//   chunked:   insertItemsInChunks, 500 rows per statement, yielding between them (what it does)
//   parse:     one synchronous xml2js parse (what parseFeedText did) vs xml2js's async mode in
//              32 KiB pieces (what it does above ASYNC_PARSE_ABOVE_CHARS, services/inbound-dock/parse.ts)
// Measured: the longest gap between ticks of a 1 ms interval timer while the insert (or parse)
// runs (the event loop's longest block), the wall time, and, for scale, normalise of the same
// feed (synchronous, bounded by OPS_INBOUND_MAX_ITEMS_PER_FETCH).
// Reproduce: npm run bench -- inbound-dock-loop
import { sql } from "../services/common/db.ts";
import { normaliseItems } from "../services/inbound-dock/normalise.ts";
import { parseFeedText } from "../services/inbound-dock/parse.ts";
import { insertItems, insertItemsInChunks } from "../services/inbound-dock/store.ts";
import { benchDatabase, median, report } from "./lib.ts";

const COMMAND = "npm run bench -- inbound-dock-loop";
const ITEMS = 10_000;
const FETCHED = new Date("2026-01-05T12:00:00Z");

function feedText(run: number): string {
  const items = Array.from(
    { length: ITEMS },
    (_, i) =>
      `<item><title>Company ${i} &amp; Partners report results (run ${run})</title><link>https://wire.example/n/${run}/${i}</link><guid>w-${run}-${i}</guid><pubDate>Mon, 05 Jan 2026 08:${String(i % 60).padStart(2, "0")}:00 GMT</pubDate><description>Revenue rose ${i % 17}%.</description></item>`,
  );
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://wire.example/</link>${items.join("")}</channel></rss>`;
}

/** Runs `fn` while a 1 ms timer ticks; returns the longest gap between ticks and the wall time. */
async function longestBlock(fn: () => Promise<unknown>): Promise<{ blockMs: number; wallMs: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  await fn();
  const wallMs = performance.now() - started;
  worst = Math.max(worst, performance.now() - last);
  clearInterval(timer);
  return { blockMs: worst, wallMs };
}

const database = await benchDatabase(4);
const db = database.pool;
try {
  const parseRuns: number[] = [];
  const parseBlock = { sync: [] as number[], pieces: [] as number[] };
  const parseWall = { sync: [] as number[], pieces: [] as number[] };
  const normaliseRuns: number[] = [];
  const runs = { oneStatement: [] as number[], chunked: [] as number[] };
  const wall = { oneStatement: [] as number[], chunked: [] as number[] };
  for (let run = 0; run < 6; run++) {
    const text = feedText(run);
    let t = performance.now();
    const parsed = await parseFeedText(text);
    parseRuns.push(performance.now() - t);
    t = performance.now();
    const { items } = normaliseItems(parsed.items, {
      feedUrl: "https://wire.example/rss",
      fetchedAt: FETCHED,
    });
    normaliseRuns.push(performance.now() - t);
    // Parsing's own block: one synchronous xml2js parse (before) vs the async mode parseFeedText
    // uses above ASYNC_PARSE_ABOVE_CHARS (now), alternating which goes first.
    for (const kind of run % 2 === 0 ? (["sync", "pieces"] as const) : (["pieces", "sync"] as const)) {
      const measured = await longestBlock(() =>
        parseFeedText(text, kind === "sync" ? { asyncAboveChars: Number.POSITIVE_INFINITY } : {}),
      );
      if (run > 0) {
        parseBlock[kind].push(measured.blockMs);
        parseWall[kind].push(measured.wallMs);
      }
    }
    // Alternate which goes first, on a truncated table each time.
    for (const kind of run % 2 === 0
      ? (["oneStatement", "chunked"] as const)
      : (["chunked", "oneStatement"] as const)) {
      await db.query(sql.unsafe`TRUNCATE inbound_events_raw CASCADE`);
      const measured = await longestBlock(() =>
        db.transaction((tx) =>
          kind === "chunked"
            ? insertItemsInChunks(tx, null, items, FETCHED)
            : insertItems(tx, null, items, FETCHED),
        ),
      );
      // The first round warms up.
      if (run > 0) {
        runs[kind].push(measured.blockMs);
        wall[kind].push(measured.wallMs);
      }
    }
  }
  report(
    `event loop's longest block while storing one ${ITEMS}-item feed (median of ${runs.chunked.length})`,
    COMMAND,
    {
      label: "one statement (before)",
      value: median(runs.oneStatement),
      unit: "ms",
      runs: runs.oneStatement,
    },
    [
      {
        label: "500-row chunks, yielding (now)",
        value: median(runs.chunked),
        unit: "ms",
        runs: runs.chunked,
      },
    ],
  );
  report(
    "the insert's wall time",
    COMMAND,
    {
      label: "one statement (before)",
      value: median(wall.oneStatement),
      unit: "ms",
      runs: wall.oneStatement,
    },
    [
      {
        label: "500-row chunks, yielding (now)",
        value: median(wall.chunked),
        unit: "ms",
        runs: wall.chunked,
      },
    ],
  );
  report(
    `event loop's longest block while parsing one ${ITEMS}-item feed (${(feedText(0).length / 1e6).toFixed(1)} MB, median of ${parseBlock.pieces.length})`,
    COMMAND,
    {
      label: "one synchronous parse (before)",
      value: median(parseBlock.sync),
      unit: "ms",
      runs: parseBlock.sync,
    },
    [
      {
        label: "xml2js async mode, 32 KiB pieces (now)",
        value: median(parseBlock.pieces),
        unit: "ms",
        runs: parseBlock.pieces,
      },
    ],
  );
  report(
    "the parse's wall time",
    COMMAND,
    {
      label: "one synchronous parse (before)",
      value: median(parseWall.sync),
      unit: "ms",
      runs: parseWall.sync,
    },
    [
      {
        label: "xml2js async mode, 32 KiB pieces (now)",
        value: median(parseWall.pieces),
        unit: "ms",
        runs: parseWall.pieces,
      },
    ],
  );
  console.log(
    `\nfor scale: parse ${median(parseRuns).toFixed(0)} ms (now, wall), normalise ${median(normaliseRuns).toFixed(0)} ms for ${ITEMS} items; normalise of the 1,000 items the cap keeps is a tenth of that`,
  );
} finally {
  await database.close();
}
