import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SignatureV4 } from "@smithy/signature-v4";
import { z } from "zod";
import { OpsApiError, opsApiUrlClient } from "../../cli/src/aws-backend.ts";
import { FakeClock } from "../../services/common/clock.ts";
import { sql } from "../../services/common/db.ts";
import { NodeSha256 } from "../../services/common/rds-iam.ts";
import { STAGE_ROLES } from "../../services/common/roles.ts";
import { callerIdentity } from "../../services/ops-api/lambda.ts";
import { handleOperation } from "../../services/ops-api/operations.ts";
import { useTestDatabase } from "../helpers/db.ts";

const REGION = "us-east-1";
/** The IAM users the fake knows, by access key, as AWS would resolve a signature to a principal. */
const USERS: Record<string, { secret: string; arn: string }> = {
  AKIDOPERATOR: { secret: "operator-secret", arn: "arn:aws:iam::123456789012:user/alice" },
};

/**
 * A local Lambda function URL with AWS_IAM auth: it re-signs each request with the secret of the
 * access key it names (SigV4, service lambda) and answers 403 unless the signatures match, then
 * hands the ops-api handler's code the event Lambda would build, the principal in
 * requestContext.authorizer.iam.
 */
async function startFunctionUrl(run: (event: unknown) => Promise<unknown>) {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const auth = String(req.headers.authorization ?? "");
      const match = /Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
      const user = match ? USERS[match[1]!] : undefined;
      const forbid = (why: string) => {
        res.writeHead(403, { "content-type": "application/json" });
        res.end(JSON.stringify({ Message: why }));
      };
      if (!match || !user || match[3] !== REGION || match[4] !== "lambda")
        return forbid("bad credential scope");
      const amzDate = String(req.headers["x-amz-date"]);
      const signer = new SignatureV4({
        service: "lambda",
        region: REGION,
        credentials: { accessKeyId: match[1]!, secretAccessKey: user.secret },
        sha256: NodeSha256,
      });
      // Only the headers the signature names, as AWS checks them (fetch adds others unsigned).
      const signedHeaders = (/SignedHeaders=([^,]+)/.exec(auth)?.[1] ?? "").split(";");
      const headers: Record<string, string> = {};
      for (const key of signedHeaders) {
        const value = req.headers[key];
        if (typeof value === "string") headers[key] = value;
      }
      const expected = await signer.sign(
        {
          method: req.method!,
          protocol: "http:",
          hostname: "127.0.0.1",
          path: req.url!,
          query: {},
          headers,
          body,
        },
        {
          signingDate: new Date(
            `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
          ),
        },
      );
      if (expected.headers.authorization !== auth) return forbid("signature mismatch");
      const event = {
        body,
        isBase64Encoded: false,
        requestContext: { http: { method: req.method }, authorizer: { iam: { userArn: user.arn } } },
      };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(await run(event)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("opsctl to the ops-api through its AWS_IAM function URL", () => {
  const db = useTestDatabase({ role: STAGE_ROLES["ops-api"] });
  const clock = new FakeClock(new Date());
  let fake: Awaited<ReturnType<typeof startFunctionUrl>>;
  before(async () => {
    fake = await startFunctionUrl(async (event) => {
      const caller = callerIdentity(event);
      const request = JSON.parse((event as { body: string }).body) as unknown;
      return handleOperation(db.stagePool, clock, request, caller ? { caller } : {});
    });
  });
  after(() => fake.close());

  const client = (secretAccessKey: string) =>
    opsApiUrlClient(fake.url, {
      region: REGION,
      credentials: { accessKeyId: "AKIDOPERATOR", secretAccessKey },
      clock,
    });

  it("records the caller's IAM principal as the audit identity, never the name the request claims", async () => {
    await client("operator-secret").invoke({
      op: "params.audit.record",
      entry: {
        key: "dry-run",
        oldValue: true as never,
        newValue: false as never,
        changedBy: "someone-else",
        reason: "url test",
      },
    });
    const row = await db.pool.one(
      sql.type(z.object({ changed_by: z.string() }))`
        SELECT changed_by FROM param_audit WHERE reason = 'url test'`,
    );
    assert.equal(row.changed_by, "arn:aws:iam::123456789012:user/alice");
  });

  it("is refused, with the policy to attach, when the signature is not the caller's", async () => {
    await assert.rejects(
      client("wrong-secret").invoke({ op: "feeds.list" }),
      (error: unknown) =>
        error instanceof OpsApiError &&
        error.code === "OPS_API_FORBIDDEN" &&
        /operatorPolicyArn/.test(error.hint ?? ""),
    );
  });

  it("unwraps the operation's result like Invoke does", async () => {
    const feeds = await client("operator-secret").invoke<unknown[]>({ op: "feeds.list" });
    assert.ok(Array.isArray(feeds));
  });
});
