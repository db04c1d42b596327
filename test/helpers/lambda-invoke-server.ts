import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local HTTP server speaking Lambda's Invoke REST API as an asynchronous caller sees it:
 * POST /2015-03-31/functions/{name}/invocations with `X-Amz-Invocation-Type: Event` is answered
 * 202 Accepted with an empty body, after which the "function" runs (`onEvent`, as Lambda runs it
 * from its queue). `answer` can instead return what the API answers under trouble: a 500
 * ServiceException or a 429 TooManyRequestsException, with the `x-amzn-ErrorType` header the SDK
 * reads. Every request is recorded; `maxInFlight` is how many were ever open at once.
 */
export interface InvokeRequest {
  functionName: string;
  invocationType: string | undefined;
  payload: unknown;
  headers: http.IncomingHttpHeaders;
}

export type InvokeAnswer = { status: 202 } | { status: 429 | 500; errorType: string; message: string };

export interface LambdaInvokeServer {
  readonly url: string;
  readonly requests: InvokeRequest[];
  /** Requests answered 202 whose `onEvent` run has not finished yet resolve this. */
  idle(): Promise<void>;
  readonly maxInFlight: number;
  close(): Promise<void>;
}

export const THROTTLED: InvokeAnswer = {
  status: 429,
  errorType: "TooManyRequestsException",
  message: "Rate Exceeded.",
};
export const SERVICE_ERROR: InvokeAnswer = {
  status: 500,
  errorType: "ServiceException",
  message: "Lambda was unable to process the request.",
};

export async function startLambdaInvokeServer(
  options: {
    /** What to answer a request (default 202); may wait, to hold a request open. */
    answer?: (request: InvokeRequest, index: number) => InvokeAnswer | Promise<InvokeAnswer>;
    /** The function run after a 202, as Lambda would run it from its queue. */
    onEvent?: (request: InvokeRequest) => Promise<unknown>;
  } = {},
): Promise<LambdaInvokeServer> {
  const requests: InvokeRequest[] = [];
  const runs = new Set<Promise<unknown>>();
  let inFlight = 0;
  let maxInFlight = 0;
  const server = http.createServer(async (req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(req.url ?? "");
      if (req.method !== "POST" || !match) {
        res.writeHead(404, { "x-amzn-errortype": "ResourceNotFoundException" });
        res.end(JSON.stringify({ Type: "User", message: `no route ${req.method} ${req.url}` }));
        return;
      }
      const text = Buffer.concat(chunks).toString("utf8");
      const request: InvokeRequest = {
        functionName: decodeURIComponent(match[1] ?? ""),
        invocationType: req.headers["x-amz-invocation-type"] as string | undefined,
        payload: text ? JSON.parse(text) : undefined,
        headers: req.headers,
      };
      requests.push(request);
      const answer = (await options.answer?.(request, requests.length - 1)) ?? { status: 202 };
      if (answer.status === 202) {
        res.writeHead(202, { "x-amzn-requestid": `req-${requests.length}` });
        res.end();
        if (options.onEvent) {
          const run = options.onEvent(request).catch(() => undefined);
          runs.add(run);
          void run.finally(() => runs.delete(run));
        }
        return;
      }
      res.writeHead(answer.status, {
        "content-type": "application/json",
        "x-amzn-errortype": answer.errorType,
      });
      res.end(JSON.stringify({ Type: answer.status === 429 ? "User" : "Service", message: answer.message }));
    } finally {
      inFlight -= 1;
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async idle() {
      while (runs.size > 0) await Promise.all([...runs]);
    },
    get maxInFlight() {
      return maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
