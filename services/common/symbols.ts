/**
 * The one share-class notation of the whole database: a dot (`BRK.B`), as the consolidated tape,
 * Alpaca and most brokers write it. Every table that holds a ticker stores this form
 * (sql/0061_share_class_notation.sql rewrote older rows); each provider's own notation is mapped
 * at its adapter: Yahoo `BRK-B` (yahooSymbol), Alpaca `BRK.B` (alpacaSymbol), the SEC `BRK-B`
 * (the ticker snapshot), Nasdaq `BRK/B`, CQS `BRK B`.
 */
export function canonicalTicker(symbol: string): string {
  // Only a class suffix of one or two letters is rewritten: "BTC/USD" is a pair, not a class.
  return symbol
    .trim()
    .toUpperCase()
    .replace(/^([A-Z0-9]{1,6})[-./ ]([A-Z]{1,2})$/, "$1.$2");
}

/** Alpaca (market data v2 and the trading API) writes share classes as we do: `BRK.B`. */
export function alpacaSymbol(ticker: string): string {
  return canonicalTicker(ticker);
}
