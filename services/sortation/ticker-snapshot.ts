import { createHash } from "node:crypto";
import * as z from "zod";
import { OperatorError } from "../common/errors.ts";
import { LISTED_EXCHANGES, normaliseCompanyName, normaliseSymbol, type TickerSnapshot } from "./tickers.ts";

/** The SEC's company_tickers_exchange.json: `{fields: [cik, name, ticker, exchange], data: [...]}`. */
const SecCompanyTickers = z.object({
  fields: z.array(z.string()),
  data: z.array(z.array(z.union([z.string(), z.number(), z.null()]))),
});

export const SEC_TICKERS_URL = "https://www.sec.gov/files/company_tickers_exchange.json";

/**
 * Derives the compact snapshot the worker ships with from the SEC list: exchange-listed rows
 * only (no OTC, no unlisted), symbols in the canonical notation (BRK-B → BRK.B), names reduced to their
 * distinguishing words. Nothing else from the source is kept.
 * @throws OperatorError TICKERS_SOURCE_INVALID when the text is not the SEC list's shape.
 */
export function deriveSnapshot(
  text: string,
  options: { source: string; now: Date; derivedBy: string },
): TickerSnapshot {
  let parsed: z.infer<typeof SecCompanyTickers>;
  try {
    parsed = SecCompanyTickers.parse(JSON.parse(text));
  } catch (cause) {
    throw new OperatorError(
      "TICKERS_SOURCE_INVALID",
      `${options.source} is not the SEC company ticker list`,
      {
        hint: `pass the JSON of ${SEC_TICKERS_URL} (fields cik, name, ticker, exchange)`,
        cause,
      },
    );
  }
  const column = (name: string) => {
    const index = parsed.fields.indexOf(name);
    if (index < 0) {
      throw new OperatorError("TICKERS_SOURCE_INVALID", `${options.source} has no "${name}" field`, {
        hint: `pass the JSON of ${SEC_TICKERS_URL}`,
      });
    }
    return index;
  };
  const [nameAt, tickerAt, exchangeAt] = [column("name"), column("ticker"), column("exchange")];
  const listed = new Set<string>(LISTED_EXCHANGES);
  const seen = new Set<string>();
  const companies: [string, string, string][] = [];
  for (const row of parsed.data) {
    const ticker = row[tickerAt];
    const exchange = row[exchangeAt];
    const name = row[nameAt];
    if (typeof ticker !== "string" || typeof exchange !== "string" || typeof name !== "string") continue;
    if (!listed.has(exchange)) continue;
    const symbol = normaliseSymbol(ticker.trim());
    if (!/^[A-Z]{1,5}(?:\.[A-Z]{1,2})?$/.test(symbol) || seen.has(symbol)) continue;
    seen.add(symbol);
    companies.push([symbol, exchange, normaliseCompanyName(name)]);
  }
  if (companies.length === 0) {
    throw new OperatorError("TICKERS_SOURCE_INVALID", `${options.source} has no exchange-listed rows`, {
      hint: "check that the file is the full SEC list",
    });
  }
  return {
    format: 1,
    source: options.source,
    sourceSha256: createHash("sha256").update(text).digest("hex"),
    derivedAt: options.now.toISOString(),
    derivedBy: options.derivedBy,
    note:
      "Derived from the SEC's company ticker list (public domain, U.S. government work): only " +
      `${LISTED_EXCHANGES.join("/")} rows, symbols normalised, names reduced to uppercase words ` +
      "without legal-form suffixes. Refresh with `opsctl tickers refresh`.",
    exchanges: [...LISTED_EXCHANGES],
    companies,
  };
}

/** One company per line keeps the file small and its diffs readable. */
export function formatSnapshot(snapshot: TickerSnapshot): string {
  const { companies, ...header } = snapshot;
  const head = JSON.stringify(header, null, 2).replace(/\n}$/, "");
  const rows = companies.map((row) => `    ${JSON.stringify(row)}`).join(",\n");
  return `${head},\n  "companies": [\n${rows}\n  ]\n}\n`;
}
