import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";

/**
 * The last `count` closes of `ticker` at or before `now`, newest first, for the order gates
 * (gates.ts `evaluateOrderGates`). lane_telemetry holds trusted bars only (quarantined ones live
 * in lane_telemetry_quarantine), so these are prices the trust checks accepted. One probe of the
 * (ticker, ts) primary key.
 */
export async function selectRecentCloses(
  db: Pick<CommonQueryMethods, "anyFirst">,
  options: { ticker: string; now: Date; count: number },
): Promise<readonly number[]> {
  return db.anyFirst(sql.type(z.object({ close: z.number() }))`
    SELECT close FROM lane_telemetry
    WHERE ticker = ${options.ticker} AND ts <= ${sql.timestamp(options.now)}
    ORDER BY ts DESC
    LIMIT ${options.count}`);
}
