import {
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient as Lambda,
  type LambdaClient,
} from "@aws-sdk/client-lambda";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import type { Clock } from "../../services/common/clock.ts";
import type { Config } from "../../services/common/config.ts";
import { ConfigError, describeCause, OperatorError } from "../../services/common/errors.ts";
import { ssmParameterStore } from "../../services/common/params/ssm.ts";
import type { ParameterStore } from "../../services/common/params/store.ts";
import type { LatencyReport } from "../../services/ops/latency.ts";
import type { TradingFacts, TradingTrip } from "../../services/ops/trading.ts";
import type { OpsRequest, OpsResponse } from "../../services/ops-api/operations.ts";
import { awsClientConfig } from "./aws-config.ts";
import type {
  ApprovalResult,
  AuditLine,
  BackupLine,
  CloseReport,
  FeedIntervalChange,
  FeedRow,
  OpsBackend,
  OrderList,
  PositionsReport,
  ReconcileDifference,
  ReconcileReport,
  ReplayReport,
} from "./backend.ts";
import type { CliContext } from "./context.ts";

/** The ops-api could not be invoked, or it failed (not an operator error it reported). */
export class OpsApiError extends OperatorError {
  override readonly name = "OpsApiError";
}

export interface OpsApiClient {
  invoke<T>(request: OpsRequest): Promise<T>;
}

/** What signing needs: the SDK's credential chain (or fixed credentials in tests) and the region. */
export interface SigningOptions {
  readonly region: string;
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  readonly clock: Clock;
}

/**
 * Calls the ops-api through its function URL (AWS_IAM auth) with a SigV4-signed POST (service
 * `lambda`): Lambda verifies the signature and hands the function the caller's IAM principal
 * (requestContext.authorizer.iam.userArn), which becomes the audit identity. The response body is
 * the same envelope as Invoke's.
 * @throws OpsApiError when the request fails, is refused (403: not allowed by IAM) or the function errors.
 */
export function opsApiUrlClient(url: string, signing: SigningOptions): OpsApiClient {
  const target = new URL(url);
  return {
    async invoke<T>(request: OpsRequest): Promise<T> {
      const body = JSON.stringify(request);
      let status: number;
      let text: string;
      try {
        const [{ SignatureV4 }, { NodeSha256 }, credentials] = await Promise.all([
          import("@smithy/signature-v4"),
          import("../../services/common/rds-iam.ts"),
          signing.credentials ??
            import("@aws-sdk/credential-provider-node").then(({ defaultProvider }) => defaultProvider()),
        ]);
        const signer = new SignatureV4({
          service: "lambda",
          region: signing.region,
          credentials,
          sha256: NodeSha256,
        });
        const signed = await signer.sign(
          {
            method: "POST",
            protocol: target.protocol,
            hostname: target.hostname,
            ...(target.port ? { port: Number(target.port) } : {}),
            path: target.pathname,
            query: {},
            headers: { host: target.host, "content-type": "application/json" },
            body,
          },
          { signingDate: signing.clock.now() },
        );
        const response = await fetch(target, {
          method: "POST",
          headers: signed.headers,
          body,
          signal: AbortSignal.timeout(60_000),
        });
        status = response.status;
        text = await response.text();
      } catch (error) {
        throw new OpsApiError(
          "OPS_API_UNREACHABLE",
          `cannot call the ops-api at ${target.host}: ${describeCause(error)}`,
          {
            hint: "check your AWS credentials, AWS_REGION and OPS_API_URL (the stack output opsApiUrl)",
            cause: error,
          },
        );
      }
      if (status === 403) {
        throw new OpsApiError("OPS_API_FORBIDDEN", `the ops-api refused this caller: ${text.slice(0, 300)}`, {
          hint: "attach the stack's operatorPolicyArn to your user or role (lambda:InvokeFunctionUrl on the ops-api)",
        });
      }
      if (status !== 200) {
        throw new OpsApiError(
          "OPS_API_FAILED",
          `the ops-api answered HTTP ${status}: ${text.slice(0, 500)}`,
          {
            hint: "read its logs: opsctl logs ops-api --target aws",
          },
        );
      }
      return unwrap<T>(text);
    },
  };
}

function unwrap<T>(text: string): T {
  const response = JSON.parse(text) as OpsResponse;
  if (!response.ok) {
    throw new OpsApiError(
      response.error.code,
      response.error.message,
      response.error.hint ? { hint: response.error.hint } : {},
    );
  }
  return response.result as T;
}

/**
 * The ops-api client of an AWS stack: its function URL when known (the caller's identity is then
 * verified by AWS), else Lambda Invoke by function name (recorded as an unverified identity).
 * @throws ConfigError when neither is configured.
 */
export async function stackOpsApi(
  config: Config,
  clock: Clock,
): Promise<{ api: OpsApiClient; close(): void }> {
  const url = config.opsctl.opsApiUrl;
  if (url) {
    const region = config.aws.region;
    if (!region) throw new ConfigError("AWS_REGION", "is needed to sign requests to the ops-api", "set it");
    return { api: opsApiUrlClient(url, { region, clock }), close: () => undefined };
  }
  const functionName = config.opsctl.opsApiFunctionName;
  if (!functionName) {
    throw new ConfigError(
      "OPS_API_URL",
      "is not set and no stack outputs file names it",
      "run pulumi stack output --json > .ops/stack-outputs.json, or set OPS_API_URL",
    );
  }
  const lambda = new Lambda(awsClientConfig(config));
  return { api: opsApiClient(lambda, functionName), close: () => lambda.destroy() };
}

/**
 * Invokes the ops-api Lambda synchronously (RequestResponse) and unwraps its envelope. An
 * operator error the function reports becomes an OpsApiError here with its code and hint.
 * @throws OpsApiError when invoking fails or the function errors.
 */
export function opsApiClient(lambda: LambdaClient, functionName: string): OpsApiClient {
  return {
    async invoke<T>(request: OpsRequest): Promise<T> {
      let output: InvokeCommandOutput;
      try {
        output = await lambda.send(
          new InvokeCommand({
            FunctionName: functionName,
            InvocationType: "RequestResponse",
            Payload: new TextEncoder().encode(JSON.stringify(request)),
          }),
        );
      } catch (error) {
        throw new OpsApiError(
          "OPS_API_UNREACHABLE",
          `cannot invoke ${functionName}: ${describeCause(error)}`,
          {
            hint: "check your AWS credentials, AWS_REGION and that this role may call lambda:InvokeFunction on the ops-api",
            cause: error,
          },
        );
      }
      const text = output.Payload ? new TextDecoder().decode(output.Payload) : "null";
      if (output.FunctionError) {
        throw new OpsApiError(
          "OPS_API_FAILED",
          `${functionName} failed (${output.FunctionError}): ${text.slice(0, 500)}`,
          {
            hint: `read its logs: opsctl logs ops-api --target aws`,
          },
        );
      }
      return unwrap<T>(text);
    },
  };
}

/**
 * The AWS target: every database operation through the ops-api Lambda, parameters straight from
 * SSM (the audit row is written through the ops-api, since the database is private).
 * @throws ConfigError when the function name or region is unknown.
 */
export async function openAwsBackend(context: CliContext, clock: Clock): Promise<OpsBackend> {
  const { config } = context;
  const clientConfig = awsClientConfig(config);
  const opsApi = await stackOpsApi(config, clock);
  const api = opsApi.api;
  const ssm = new SSMClient(clientConfig);
  const store = ssmErrorsAsOperatorErrors(
    ssmParameterStore({
      client: ssm,
      prefix: config.aws.paramPrefix,
      audit: async (entry) => {
        await api.invoke({
          op: "params.audit.record",
          entry: {
            key: entry.key,
            oldValue: (entry.oldValue ?? null) as never,
            newValue: entry.newValue as never,
            changedBy: entry.changedBy,
            reason: entry.reason,
          },
        });
      },
    }),
  );
  return {
    target: "aws",
    clock,
    statusSnapshot: () => api.invoke({ op: "status.snapshot" }),
    listRecommendations: (query) =>
      api.invoke({
        op: "recs.list",
        limit: query.limit,
        status: query.status,
        afterId: query.afterId,
        ticker: query.ticker,
        since: query.since?.toISOString(),
      }),
    explainRecommendation: (id) => api.invoke({ op: "recs.show", id }),
    latency: (since) => api.invoke<LatencyReport>({ op: "latency.report", since: since.toISOString() }),
    params: () => store,
    paramAudit: (limit) => api.invoke<AuditLine[]>({ op: "params.audit.list", limit }),
    listFeeds: () => api.invoke<FeedRow[]>({ op: "feeds.list" }),
    addFeed: (feed) =>
      api.invoke<FeedRow>({
        op: "feeds.add",
        feed: {
          url: feed.url,
          name: feed.name,
          tags: [...(feed.tags ?? [])],
          terms: feed.terms ?? null,
          // Only when given, so a stack older than the field still takes a plain add.
          ...(feed.pollIntervalMs != null ? { pollIntervalMs: feed.pollIntervalMs } : {}),
        },
      }),
    changeFeed: (change, id) => api.invoke<FeedRow>({ op: "feeds.change", change, id }),
    setFeedInterval: (id, intervalMs) =>
      api.invoke<FeedIntervalChange>({ op: "feeds.interval", id, intervalMs }),
    async replay(query) {
      // The stack's stored parameters are in SSM, which the ops-api does not read: send them along.
      const { replayParams } = await import("../../services/ops/replay.ts");
      const params = replayParams(await store.getAll(), query.threshold);
      return api.invoke<ReplayReport>({
        op: "replay",
        from: query.from.toISOString(),
        to: query.to.toISOString(),
        params,
      });
    },
    listBackups: (limit) => api.invoke<BackupLine[]>({ op: "backups.list", limit }),
    reconcileReport: () => api.invoke<ReconcileReport>({ op: "reconcile.report" }),
    // Audited: the ops-api records the caller AWS verified on each row, else `unverified:<by>`.
    acceptReconcile: (who) => api.invoke<ReconcileDifference[]>({ op: "reconcile.accept", by: who }),
    positions: (account) =>
      api.invoke<PositionsReport>({ op: "positions.list", ...(account ? { account } : {}) }),
    orders: (query) =>
      api.invoke<OrderList>({
        op: "orders.list",
        limit: query.limit,
        ...(query.open === undefined ? {} : { open: query.open }),
      }),
    // An audited write: the ops-api records the caller as AWS verified it (function URL), else
    // this claim marked `unverified:` (Lambda Invoke), as for parameter changes.
    decideRecommendation: (request) =>
      api.invoke<ApprovalResult>({
        op: request.decision === "approved" ? "recs.approve" : "recs.reject",
        id: request.id,
        by: request.by,
        reason: request.reason,
      }),
    // The trips are the database's (through the ops-api); the parameter and the kill switch SSM's.
    async tradingReport() {
      const [facts, params, { tradingReport }] = await Promise.all([
        api.invoke<TradingFacts>({ op: "trading.facts" }),
        store.getAll(),
        import("../../services/ops/trading.ts"),
      ]);
      return tradingReport(facts, params);
    },
    acknowledgeTrips: (by, reason) => api.invoke<TradingTrip[]>({ op: "trading.acknowledge", by, reason }),
    // The account the dispatcher trades now is judged here from SSM (dry-run, dry-run-until) at
    // the stack's now, as locally; the ops-api reads no parameter and takes it as sent.
    async closePositions(query) {
      const { dryRunInEffect } = await import("../../services/common/dry-run-window.ts");
      const dryRun = dryRunInEffect(await store.getAll(), clock.now());
      return api.invoke<CloseReport>({
        op: "exits.close",
        tickers: query.tickers === "all" ? "all" : [...query.tickers],
        account: dryRun ? "dry-run" : "alpaca-paper",
        by: query.who,
        reason: query.reason,
      });
    },
    async close() {
      ssm.destroy();
      opsApi.close();
    },
  };
}

/**
 * SSM failures (no credentials, no network, access denied) are the operator's to fix, not bugs:
 * wrap them with what to check. Validation errors from the store pass through unchanged.
 */
function ssmErrorsAsOperatorErrors(store: ParameterStore): ParameterStore {
  const wrap = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (error instanceof OperatorError) throw error;
      throw new OperatorError("SSM_UNAVAILABLE", `SSM Parameter Store: ${describeCause(error)}`, {
        hint: "check AWS credentials, AWS_REGION, OPS_PARAM_PREFIX and ssm:GetParameter*/PutParameter permissions",
        cause: error,
      });
    }
  };
  return {
    kind: store.kind,
    getAll: () => wrap(() => store.getAll()),
    set: (key, value, who) => wrap(() => store.set(key, value, who)),
  };
}
