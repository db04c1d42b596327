import path from "node:path";
import * as z from "zod";
import type { DatabasePool } from "../../services/common/db.ts";
import { silentLogger } from "../../services/common/logger.ts";
import type { Classifier } from "../../services/sortation/classifier.ts";
import { lexiconSentiment } from "../../services/sortation/lexicon.ts";
import { buildUniverse, type TickerUniverse } from "../../services/sortation/tickers.ts";
import { insertRawEvents as insertRawEventRows, rawEvent } from "../helpers/builders.ts";

/** Any row, its columns unknown: tests assert on them. */
export const AnyRow = z.record(z.string(), z.unknown());

/** The committed tiny model: services/sortation/test-model/ops-pipeline/tiny-finbert. */
export const TEST_MODEL_DIR = path.resolve(import.meta.dirname, "../../services/sortation/test-model");
export const TEST_MODEL_ID = "ops-pipeline/tiny-finbert";

/** A universe written for the tests, independent of the shipped snapshot. */
export function testUniverse(): TickerUniverse {
  return buildUniverse({
    format: 1,
    source: "test",
    sourceSha256: "",
    derivedAt: "2026-01-01T00:00:00.000Z",
    derivedBy: "test",
    note: "",
    exchanges: ["Nasdaq", "NYSE"],
    companies: [
      ["AAPL", "Nasdaq", "APPLE"],
      ["NVDA", "Nasdaq", "NVIDIA"],
      ["MSFT", "Nasdaq", "MICROSOFT"],
      ["TSLA", "Nasdaq", "TESLA"],
      ["BRK.B", "NYSE", "BERKSHIRE HATHAWAY"],
      ["BRK.A", "NYSE", "BERKSHIRE HATHAWAY"],
      ["BAC", "NYSE", "BANK OF AMERICA"],
      ["ALL", "NYSE", "ALLSTATE"],
      ["IT", "NYSE", "GARTNER"],
      ["A", "NYSE", "AGILENT TECHNOLOGIES"],
      ["ON", "Nasdaq", "ON SEMICONDUCTOR"],
      ["TGT", "NYSE", "TARGET"],
      ["F", "NYSE", "FORD MOTOR"],
      ["IBM", "NYSE", "INTERNATIONAL BUSINESS MACHINES"],
      ["XYZ", "NYSE", "BLOCK"],
    ],
  });
}

/** The lexicon, plus a poison input that always throws (a row the model cannot take). */
export function poisonAwareClassifier(options: { delayMs?: number } = {}): Classifier & { calls: number } {
  const classifier = {
    kind: "lexicon" as const,
    modelId: "test/lexicon",
    modelRevision: "t",
    modelDtype: null,
    calls: 0,
    async classify(texts: readonly string[]) {
      classifier.calls += 1;
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      if (texts.some((text) => text.includes("POISON"))) throw new Error("cannot tokenise this input");
      return texts.map(lexiconSentiment);
    },
    close: async () => undefined,
  };
  return classifier;
}

/** Inserts `count` raw events titled from `title(i)` (the builders' rawEvent()); returns their ids in order. */
export async function insertRawEvents(
  pool: DatabasePool,
  count: number,
  title: (i: number) => string = (i) => `Apple beats estimates in quarter ${i}`,
  prefix = "uid",
): Promise<number[]> {
  const ids = await insertRawEventRows(
    pool,
    Array.from({ length: count }, (_, i) =>
      rawEvent({
        eventUid: `${prefix}-${i}`,
        title: title(i),
        publishedAt: new Date("2026-01-05T14:00:00Z"),
        fetchedAt: new Date("2026-01-05T14:01:00Z"),
        ingestedAt: new Date("2026-01-05T14:01:00Z"),
      }),
    ),
  );
  return ids.sort((a, b) => a - b);
}

export const quiet = silentLogger();

export const TEST_POOL = {
  statementTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
  idleInTransactionTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  maximumPoolSize: 2,
};
