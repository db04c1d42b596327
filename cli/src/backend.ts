import os from "node:os";
import type { Clock } from "../../services/common/clock.ts";
import type {
  ListRecommendationsQuery,
  RecommendationExplanation,
  RecommendationList,
} from "../../services/common/ops/recs.ts";
import type { StatusSnapshot } from "../../services/common/ops/status.ts";
import type { ParameterStore } from "../../services/common/params/store.ts";
import type { CliContext } from "./context.ts";

/** An audit entry as commands print it (the time as an ISO string on both targets). */
export interface AuditLine {
  key: string;
  oldValue: unknown;
  newValue: unknown;
  changedBy: string;
  changedAt: string;
  store: "postgres" | "ssm";
  reason: string | null;
}

/**
 * What commands need from a stack, whichever it is: locally the database directly; on AWS the
 * ops-api Lambda (the database is private) and SSM for parameters. Commands never see which.
 */
export interface OpsBackend {
  readonly target: "local" | "aws";
  readonly clock: Clock;
  statusSnapshot(): Promise<StatusSnapshot>;
  listRecommendations(query: ListRecommendationsQuery): Promise<RecommendationList>;
  explainRecommendation(id: number): Promise<RecommendationExplanation | null>;
  params(): ParameterStore;
  paramAudit(limit: number): Promise<AuditLine[]>;
  close(): Promise<void>;
}

/** Who changes a parameter: the OS user at the host, as the audit trail records it. */
export function operatorIdentity(): string {
  let user = process.env.USER ?? "unknown";
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers): keep $USER
  }
  return `${user}@${os.hostname()}`;
}

/**
 * Opens the backend of the configured target. Imports only what that target needs: the local
 * target never loads the AWS SDK, the AWS target never loads the database driver.
 * @throws OperatorError (DatabaseUnavailableError, ConfigError...) when the target is unreachable.
 */
export async function openBackend(
  context: CliContext,
  options: { access?: "read" | "write" } = {},
): Promise<OpsBackend> {
  const { systemClock } = await import("../../services/common/clock.ts");
  if (context.config.target === "aws") {
    const { openAwsBackend } = await import("./aws-backend.ts");
    return openAwsBackend(context, systemClock);
  }
  return openLocalBackend(context, systemClock, options.access ?? "read");
}

async function openLocalBackend(
  context: CliContext,
  clock: Clock,
  access: "read" | "write",
): Promise<OpsBackend> {
  const [{ openLocalDatabase, explainMissingTables }, { connectDatabase, poolSettings }] = await Promise.all([
    import("./local-database.ts"),
    import("../../services/common/db.ts"),
  ]);
  const { config, logger } = context;
  const database = await openLocalDatabase(config, logger, { access });
  // One connection: a command's few queries run faster in sequence on one session than in
  // parallel on several, each of which costs a server fork and a login. The query modules load
  // while the server forks and logs in (twice: slonik reads type OIDs on a connection of its own).
  const connecting = connectDatabase({ url: database.url, ...poolSettings(config, 1) }, logger);
  const [pool, [status, recs, params]] = await Promise.all([
    connecting,
    Promise.all([
      import("../../services/common/ops/status.ts"),
      import("../../services/common/ops/recs.ts"),
      import("../../services/common/params/postgres.ts"),
    ]),
  ]).catch(async (error: unknown) => {
    // Whichever failed, a pool that did open is closed before the database is let go.
    await connecting.then((opened) => opened.end()).catch(() => undefined);
    await database.release();
    throw error;
  });
  // The clock the stack stamps its rows with: a running demo's compressed clock, else the wall's.
  const { readStackClock } = await import("./stack-clock.ts");
  const stackClock = await readStackClock(pool, clock).catch(async (error: unknown) => {
    await pool.end().catch(() => undefined);
    await database.release();
    throw error;
  });
  const rawStore = params.postgresParameterStore(pool);
  const store: ParameterStore = {
    kind: rawStore.kind,
    getAll: () => explainMissingTables(() => rawStore.getAll()),
    set: (key, value, who) => explainMissingTables(() => rawStore.set(key, value, who)),
  };
  return {
    target: "local",
    clock: stackClock,
    statusSnapshot: () => explainMissingTables(() => status.readStatusSnapshot(pool, stackClock.now())),
    listRecommendations: (query) => explainMissingTables(() => recs.listRecommendations(pool, query)),
    explainRecommendation: (id) => explainMissingTables(() => recs.explainRecommendation(pool, id)),
    params: () => store,
    async paramAudit(limit) {
      return (await explainMissingTables(() => params.listParamAudit(pool, limit))).map((entry) => ({
        ...entry,
        changedAt: entry.changedAt.toISOString(),
      }));
    },
    async close() {
      await pool.end();
      await database.release();
    },
  };
}
