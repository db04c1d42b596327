/**
 * `opsctl tickers refresh` as an operation: derive the sortation worker's dated ticker snapshot
 * from the SEC company list, with sortation's own parser, so the file the CLI writes is the file
 * the worker reads.
 */
export { deriveSnapshot, formatSnapshot, SEC_TICKERS_URL } from "../sortation/ticker-snapshot.ts";

/** Where the worker's shipped snapshot lives, relative to the repository root. */
export const TICKER_SNAPSHOT_PATH = "services/sortation/data/ticker-universe.json";
