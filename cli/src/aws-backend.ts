import {
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient as Lambda,
  type LambdaClient,
} from "@aws-sdk/client-lambda";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { Clock } from "../../services/common/clock.ts";
import { ConfigError, describeCause, OperatorError } from "../../services/common/errors.ts";
import { ssmParameterStore } from "../../services/common/params/ssm.ts";
import type { ParameterStore } from "../../services/common/params/store.ts";
import type { OpsRequest, OpsResponse } from "../../services/ops-api/operations.ts";
import { awsClientConfig } from "./aws-config.ts";
import type { AuditLine, BackupLine, FeedRow, OpsBackend, ReplayReport } from "./backend.ts";
import type { CliContext } from "./context.ts";

/** The ops-api could not be invoked, or it failed (not an operator error it reported). */
export class OpsApiError extends OperatorError {
  override readonly name = "OpsApiError";
}

export interface OpsApiClient {
  invoke<T>(request: OpsRequest): Promise<T>;
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
      const response = JSON.parse(text) as OpsResponse;
      if (!response.ok) {
        throw new OpsApiError(
          response.error.code,
          response.error.message,
          response.error.hint ? { hint: response.error.hint } : {},
        );
      }
      return response.result as T;
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
  const functionName = config.opsctl.opsApiFunctionName;
  if (!functionName) {
    throw new ConfigError(
      "OPS_API_FUNCTION_NAME",
      "is not set and no stack outputs file names it",
      "run pulumi stack output --json > .ops/stack-outputs.json, or set OPS_API_FUNCTION_NAME",
    );
  }
  const clientConfig = awsClientConfig(config);
  const api = opsApiClient(new Lambda(clientConfig), functionName);
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
    params: () => store,
    paramAudit: (limit) => api.invoke<AuditLine[]>({ op: "params.audit.list", limit }),
    listFeeds: () => api.invoke<FeedRow[]>({ op: "feeds.list" }),
    addFeed: (feed) =>
      api.invoke<FeedRow>({
        op: "feeds.add",
        feed: { url: feed.url, name: feed.name, tags: [...(feed.tags ?? [])], terms: feed.terms ?? null },
      }),
    changeFeed: (change, id) => api.invoke<FeedRow>({ op: "feeds.change", change, id }),
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
    // The ops-api has no reconcile operation yet: say so rather than act on another stack.
    reconcileReport: () => Promise.reject(reconcileNotOnAws()),
    acceptReconcile: () => Promise.reject(reconcileNotOnAws()),
    async close() {
      ssm.destroy();
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

function reconcileNotOnAws(): OperatorError {
  return new OperatorError("NOT_ON_AWS_YET", "opsctl reconcile is not available for --target aws yet", {
    hint: "the ops-api has no reconcile operation; run it against the local stack, or read dispatch_reconcile_diffs through a tunnel to RDS",
  });
}
