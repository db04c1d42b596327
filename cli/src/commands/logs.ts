import { existsSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { formatLogLine, type LogLine, localLogFile, readLocalLogs } from "../logs.ts";
import { createOutput } from "../output.ts";

function count(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError("must be 1..100000");
  return n;
}

export function logsCommand(): Command {
  return new Command("logs")
    .description("a stage's logs: local (written by opsctl dev) or CloudWatch Logs (--target aws)")
    .argument("<stage>", "stage name (inbound-dock, sortation, ..., ops-api) or all")
    .option("-f, --follow", "keep printing new lines (Ctrl-C stops)")
    .option("-n, --lines <n>", "how many of the newest lines to print first", count, 100)
    .option("--since-minutes <m>", "CloudWatch: how far back to look", count, 60)
    .option("--log-group <name>", "CloudWatch: the log group (default OPS_LOG_GROUP_PREFIX/STAGE)")
    .addHelpText(
      "after",
      `
Locally, opsctl dev appends every stage's JSON lines to <OPS_DATA_DIR>/logs/dev.log.
JSON (--json): one object per line: {"at","level","stage","message","record"}.

Examples:
  opsctl logs sortation
  opsctl logs all --follow
  opsctl logs dispatcher --target aws --since-minutes 15
  opsctl logs ops-api --target aws --json | jq .message`,
    )
    .action(
      async (
        stage: string,
        options: { follow?: boolean; lines: number; sinceMinutes: number; logGroup?: string },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const out = createOutput({ json: globals.json === true });
        const { config } = cliContext(globals);
        // A mistyped stage would print nothing and exit 0, which reads as "all quiet".
        const { STAGE_NAMES } = await import("../../../services/common/stages.ts");
        const known = ["all", ...STAGE_NAMES, "ops-api", "opsctl"];
        if (!known.includes(stage) && options.logGroup === undefined) {
          throw new OperatorError("UNKNOWN_STAGE", `no stage named ${stage}`, {
            hint: `one of: ${known.join(", ")}`,
          });
        }
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once("SIGINT", stop);
        const emit = (line: LogLine) =>
          process.stdout.write(`${out.json ? JSON.stringify(line) : formatLogLine(line)}\n`);
        try {
          if (config.target === "aws") {
            if (stage === "all") {
              throw new OperatorError("BAD_ARGUMENT", "on AWS each stage has its own log group", {
                hint: "name one stage, e.g. opsctl logs dispatcher --target aws",
              });
            }
            const { cloudWatchLogsClient, readCloudWatchLogs } = await import("../cloudwatch-logs.ts");
            const { awsClientConfig } = await import("../aws-config.ts");
            const client = cloudWatchLogsClient(awsClientConfig(config));
            try {
              await readCloudWatchLogs(
                client,
                {
                  logGroupName: options.logGroup ?? `${config.opsctl.logGroupPrefix}/${stage}`,
                  sinceMs: Date.now() - options.sinceMinutes * 60_000,
                  lines: options.lines,
                  follow: options.follow === true,
                  signal: controller.signal,
                },
                emit,
              );
            } finally {
              client.destroy();
            }
            return;
          }
          const file = localLogFile(config.dataDir);
          if (!existsSync(file)) {
            throw new OperatorError("NO_LOCAL_LOGS", `no local log file at ${file}`, {
              hint: "start the pipeline with opsctl dev (it writes the file), or check OPS_DATA_DIR",
            });
          }
          await readLocalLogs(
            file,
            { stage, lines: options.lines, follow: options.follow === true, signal: controller.signal },
            emit,
          );
        } finally {
          process.off("SIGINT", stop);
        }
      },
    );
}
