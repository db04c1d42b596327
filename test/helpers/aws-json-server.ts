import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local HTTP server speaking the AWS JSON 1.1 protocol (SSM, Secrets Manager, CloudWatch Logs,
 * ECS): POST / with `X-Amz-Target: Service.Operation` and a JSON body. Handlers return the
 * response body, or throw an `AwsJsonError` to answer with `{ __type, message }` as AWS does.
 */
export class AwsJsonError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface RecordedRequest {
  operation: string;
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

export interface AwsJsonServer {
  readonly endpoint: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export type AwsJsonHandler = (body: Record<string, unknown>) => unknown;

export async function startAwsJsonServer(handlers: Record<string, AwsJsonHandler>): Promise<AwsJsonServer> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const target = String(req.headers["x-amz-target"] ?? "");
      const operation = target.split(".").pop() ?? "";
      const body = chunks.length
        ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>)
        : {};
      requests.push({ operation, body, headers: req.headers });
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
        res.end(JSON.stringify(payload));
      };
      const handler = handlers[operation];
      if (!handler) {
        reply(400, { __type: "UnknownOperationException", message: `no handler for ${target}` });
        return;
      }
      try {
        reply(200, handler(body) ?? {});
      } catch (error) {
        if (error instanceof AwsJsonError)
          reply(error.status, { __type: error.type, message: error.message });
        else reply(500, { __type: "InternalServerError", message: String(error) });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Credentials for SDK clients pointed at a local server; never real ones. */
export const FAKE_CREDENTIALS = { accessKeyId: "AKIDLOCALTEST", secretAccessKey: "local-test-secret" };
