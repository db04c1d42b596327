import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as z from "zod";
import { type CommonQueryMethods, sql } from "../../services/common/db.ts";
import { createLogger, type Logger } from "../../services/common/logger.ts";
import type { FetchOptions } from "../../services/inbound-dock/fetch.ts";
import type { IngestOptions } from "../../services/inbound-dock/ingest.ts";
import { feed, insertFeeds } from "../helpers/builders.ts";

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  /** http://127.0.0.1:PORT */
  readonly base: string;
  /** Routes by path; set or replace them in a test. */
  readonly routes: Map<string, Handler>;
  /** Requests seen, in order: path and headers. */
  readonly requests: { path: string; headers: IncomingMessage["headers"] }[];
  close(): Promise<void>;
}

/** A local HTTP server on 127.0.0.1 with a route table; every open socket is destroyed on close. */
export async function startServer(): Promise<TestServer> {
  const routes = new Map<string, Handler>();
  const requests: TestServer["requests"] = [];
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    requests.push({ path, headers: req.headers });
    const handler = routes.get(path);
    if (!handler) {
      res.writeHead(404).end("not found");
      return;
    }
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    routes,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const quietLogger: Logger = createLogger({ level: "silent", pretty: false });

export const TEST_FETCH: FetchOptions = {
  userAgent: "ops-pipeline-test/1 (contact: test@example.com)",
  connectTimeoutMs: 1_000,
  totalTimeoutMs: 1_500,
  maxBytes: 256 * 1024,
  maxRedirects: 3,
};

export const TEST_INGEST: IngestOptions = {
  fetch: TEST_FETCH,
  concurrency: 3,
  budgetMs: 20_000,
  feedIntervalMs: 60_000,
  pollFloorMs: 10_000,
  pollCeilingMs: 3_600_000,
  // Off by default (every test server is 127.0.0.1); the politeness tests set it.
  hostSpacingMs: 0,
  backoffBaseMs: 60_000,
  backoffMaxMs: 3_600_000,
  leaseMs: 120_000,
  feedTags: [],
  maxItemsPerFetch: 1_000,
};

export function rss(
  items: { title: string; link?: string; guid?: string; pubDate?: string }[],
  title = "Test feed",
): string {
  const body = items
    .map(
      (item) =>
        `<item><title>${item.title}</title>${item.link ? `<link>${item.link}</link>` : ""}${
          item.guid ? `<guid>${item.guid}</guid>` : ""
        }${item.pubDate ? `<pubDate>${item.pubDate}</pubDate>` : ""}</item>`,
    )
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>${title}</title><link>http://example.com/</link>\n${body}\n</channel></rss>`;
}

/** Serves a fixed body with a content type. */
export function serve(
  body: string | Buffer,
  contentType = "application/rss+xml; charset=utf-8",
  status = 200,
): Handler {
  return (_req, res) => {
    res.writeHead(status, { "content-type": contentType });
    res.end(body);
  };
}

/** Adds a feed row directly (tests of the stage do not go through opsctl). */
export async function insertFeed(db: CommonQueryMethods, url: string, name = url): Promise<number> {
  const [id] = await insertFeeds(db, [feed({ url, name })]);
  return id as number;
}

export const feedStateRow = z.object({
  feed_id: z.number(),
  etag: z.string().nullable(),
  last_modified: z.string().nullable(),
  last_status: z.number().nullable(),
  last_success_at: z.number().nullable(),
  last_error: z.string().nullable(),
  consecutive_failures: z.number(),
  next_fetch_at: z.number(),
  items_seen_last: z.number(),
  items_new_last: z.number(),
  updated_at: z.number(),
});

export async function feedState(db: CommonQueryMethods, feedId: number) {
  return db.one(sql.type(feedStateRow)`
    SELECT feed_id, etag, last_modified, last_status, last_success_at, last_error, consecutive_failures,
           next_fetch_at, items_seen_last, items_new_last, updated_at
    FROM feed_state WHERE feed_id = ${feedId}`);
}

export async function rawCount(db: CommonQueryMethods, feedId?: number): Promise<number> {
  return db.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM inbound_events_raw
    WHERE ${feedId === undefined ? sql.fragment`true` : sql.fragment`feed_id = ${feedId}`}`);
}

/** Disables the seeded feeds so a test's run only touches its local server. */
export async function disableAllFeeds(db: CommonQueryMethods): Promise<void> {
  await db.query(sql.unsafe`UPDATE feeds SET enabled = false`);
}
