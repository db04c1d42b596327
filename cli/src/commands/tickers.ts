import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { Command } from "commander";
import { OperatorError } from "../../../services/common/errors.ts";
import { TICKER_SNAPSHOT_PATH } from "../../../services/ops/tickers.ts";
import { refuseAwsTarget } from "../backend.ts";
import { cliContext, type GlobalOptions } from "../context.ts";
import { createOutput } from "../output.ts";

async function readSource(from: string, userAgent: string): Promise<string> {
  if (/^https?:\/\//.test(from)) {
    // The SEC refuses requests without a User-Agent naming the caller.
    const response = await fetch(from, {
      headers: { "user-agent": userAgent, accept: "application/json" },
    }).catch((cause: unknown) => {
      throw new OperatorError("TICKERS_FETCH_FAILED", `cannot fetch ${from}`, {
        hint: "download the file elsewhere and pass it with --from FILE",
        cause,
      });
    });
    if (!response.ok) {
      throw new OperatorError("TICKERS_FETCH_FAILED", `${from} answered HTTP ${response.status}`, {
        hint: "set --user-agent to 'Name email' as the SEC asks, or pass --from FILE",
      });
    }
    return response.text();
  }
  try {
    return await readFile(from, "utf8");
  } catch (cause) {
    throw new OperatorError("TICKERS_SOURCE_INVALID", `cannot read ${from}`, {
      hint: "pass the path of company_tickers_exchange.json",
      cause,
    });
  }
}

export function tickersCommand(): Command {
  const tickers = new Command("tickers")
    .description("the ticker universe the sortation worker matches against")
    .addHelpText("after", "\nExamples:\n  opsctl tickers refresh --from company_tickers_exchange.json");
  tickers
    .command("refresh")
    .description("derive a new dated ticker snapshot from the SEC company list (file or URL)")
    .option(
      "--from <file|url>",
      "SEC company_tickers_exchange.json",
      "https://www.sec.gov/files/company_tickers_exchange.json",
    )
    .option("--out <file>", "snapshot to write", TICKER_SNAPSHOT_PATH)
    .option(
      "--user-agent <text>",
      "User-Agent for the SEC (it asks for a name and email)",
      "ops-pipeline opsctl",
    )
    .addHelpText(
      "after",
      `
Examples:
  opsctl tickers refresh --from ../shared/corpus/reference/sec_company_tickers_exchange.json
  opsctl tickers refresh --user-agent "Jane Doe jane@example.com"`,
    )
    .action(async (options: { from: string; out: string; userAgent: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const out = createOutput({ json: globals.json === true });
      refuseAwsTarget(
        cliContext(globals),
        "tickers refresh",
        "the snapshot ships inside the worker image: refresh it without --target aws, commit it, then deploy (pulumi up)",
      );
      const { deriveSnapshot, formatSnapshot } = await import("../../../services/ops/tickers.ts");
      const text = await readSource(options.from, options.userAgent);
      const source = /^https?:\/\//.test(options.from) ? options.from : path.basename(options.from);
      const snapshot = deriveSnapshot(text, { source, now: new Date(), derivedBy: "opsctl tickers refresh" });
      // Write then rename: a worker starting meanwhile never reads half a file.
      const temporary = `${options.out}.tmp-${process.pid}`;
      await writeFile(temporary, formatSnapshot(snapshot));
      await rename(temporary, options.out);
      out.result(
        { out: options.out, companies: snapshot.companies.length, derivedAt: snapshot.derivedAt, source },
        () => `wrote ${snapshot.companies.length} listed companies to ${options.out} (from ${source})`,
      );
    });
  return tickers;
}
