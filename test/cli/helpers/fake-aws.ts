import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * One local HTTP server speaking the two AWS protocols opsctl uses on an AWS target: SSM (JSON 1.1,
 * POST / with X-Amz-Target: AmazonSSM.*) with an in-memory parameter map, and Lambda Invoke
 * (POST /2015-03-31/functions/NAME/invocations) answered by a handler the test supplies. Requests
 * are recorded so tests can assert what was called.
 */
export interface FakeAws {
  url: string;
  parameters: Map<string, string>;
  /** CloudWatch Logs events per log group, as FilterLogEvents returns them. */
  logEvents: Map<string, { eventId: string; timestamp: number; message: string; logStreamName: string }[]>;
  calls: { target: string; body: unknown }[];
  close(): Promise<void>;
}

export async function startFakeAws(
  invoke: (functionName: string, payload: unknown) => Promise<{ payload: unknown; functionError?: string }>,
): Promise<FakeAws> {
  const parameters = new Map<string, string>();
  const logEvents: FakeAws["logEvents"] = new Map();
  const calls: FakeAws["calls"] = [];
  const server = http.createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    const send = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { "content-type": "application/x-amz-json-1.1", ...headers });
      response.end(JSON.stringify(value));
    };
    const invocation = /^\/2015-03-31\/functions\/([^/]+)\/invocations/.exec(request.url ?? "");
    if (invocation) {
      const name = decodeURIComponent(invocation[1] ?? "");
      calls.push({ target: `Lambda.Invoke:${name}`, body });
      try {
        const result = await invoke(name, body);
        send(
          200,
          result.payload,
          result.functionError ? { "x-amz-function-error": result.functionError } : {},
        );
      } catch (error) {
        send(
          200,
          { errorMessage: String(error), errorType: "Error" },
          { "x-amz-function-error": "Unhandled" },
        );
      }
      return;
    }
    const target = String(request.headers["x-amz-target"] ?? "");
    calls.push({ target, body });
    const name = String(body.Name ?? "");
    switch (target) {
      case "AmazonSSM.GetParametersByPath": {
        const prefix = `${String(body.Path)}/`;
        const found = [...parameters]
          .filter(([key]) => key.startsWith(prefix))
          .map(([key, value]) => ({ Name: key, Value: value, Type: "String", Version: 1 }));
        send(200, { Parameters: found });
        return;
      }
      case "AmazonSSM.GetParameter": {
        const value = parameters.get(name);
        if (value === undefined) {
          send(400, { __type: "ParameterNotFound", message: `${name} not found` });
          return;
        }
        send(200, { Parameter: { Name: name, Value: value, Type: "String", Version: 1 } });
        return;
      }
      case "AmazonSSM.PutParameter":
        parameters.set(name, String(body.Value));
        send(200, { Version: 1, Tier: "Standard" });
        return;
      case "Logs_20140328.FilterLogEvents": {
        const group = String(body.logGroupName);
        const events = logEvents.get(group);
        if (!events) {
          send(400, {
            __type: "ResourceNotFoundException",
            message: "The specified log group does not exist.",
          });
          return;
        }
        // Pages of 2 so callers must follow nextToken, as they must with real pages of up to 1 MB.
        const start = Number(body.startTime ?? 0);
        const matching = events.filter((event) => event.timestamp >= start);
        const offset = Number(body.nextToken ?? 0);
        const page = matching.slice(offset, offset + 2);
        send(200, {
          events: page,
          searchedLogStreams: [],
          ...(offset + 2 < matching.length ? { nextToken: String(offset + 2) } : {}),
        });
        return;
      }
      default:
        send(400, { __type: "InvalidAction", message: `unsupported ${target}` });
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    parameters,
    logEvents,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Credentials and endpoint for SDK clients talking to the fake (never real AWS). */
export const FAKE_AWS_ENV = {
  AWS_ACCESS_KEY_ID: "AKIAFAKEFORTESTS",
  AWS_SECRET_ACCESS_KEY: "fake-secret-for-tests",
  AWS_REGION: "eu-west-1",
} as const;
