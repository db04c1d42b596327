import * as z from "zod";
import { type CommonQueryMethods, sql } from "../common/db.ts";
import { EXCHANGE_TIME_ZONE } from "../common/market-calendar.ts";
import type { ExecutionResult } from "./executors/types.ts";
import { type GateDecision, type NewTrip, type PlannedOrder, TRIP_KINDS } from "./gates.ts";
import type { Account, AccountState } from "./portfolio.ts";

/**
 * The dispatcher's SQL (invariant 4: a recommendation leaves PENDING in exactly one UPDATE).
 * Every query takes `now` from the injected clock, never the server's now().
 */

/**
 * Serialises the part of every decision that reads and writes shared risk state (trades today,
 * positions, cash, the error streak), across all dispatchers: two of them must not both see
 * "19 of 20 trades" and both trade. Claiming stays parallel (SKIP LOCKED); only gate+record is
 * one at a time. Two-int form, key space (4040, n) reserved for the dispatcher.
 */
export async function takeRiskLock(tx: CommonQueryMethods): Promise<void> {
  await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(4040, 1)`);
}

const claimedRow = z.object({
  id: z.number(),
  ticker: z.string(),
  side: z.enum(["BUY", "SELL"]),
  as_of: z.number(),
  close: z.number(),
  // An operator's approval (sql/0127): the approval gate reads it.
  approval: z.enum(["approved", "rejected"]).nullable(),
  approval_by: z.string().nullable(),
  approval_at: z.number().nullable(),
  approval_reason: z.string().nullable(),
  /** The exit parameters stored with it (`inputs.exits`, issue 15); parsed by exits.ts. */
  exits: z.unknown(),
});
export type ClaimedRecommendation = z.infer<typeof claimedRow>;

/**
 * Claims the oldest PENDING recommendation in one statement. FOR NO KEY UPDATE (not FOR
 * UPDATE) so the broker intent, inserted on another connection while this lock is held, can
 * take its foreign-key share lock instead of waiting on us forever. A recommendation that has a
 * broker intent is left alone while no broker may be called (dry-run on): only the broker can
 * say whether its order exists.
 *
 * With `approval.required` (the require-approval parameter) a recommendation is claimable only
 * once an operator approved it, or once it is older than the stale-data limit (as_of before
 * `approval.staleBefore`), so the approval gate can reject it as unapproved. An operator's
 * approval is one UPDATE of the same row: it waits for this lock, and this claim skips a row
 * whose approval is being written, so the approval the gate reads cannot change under it.
 */
export async function claimRecommendation(
  tx: CommonQueryMethods,
  options: {
    instance: string;
    now: Date;
    brokerActive: boolean;
    approval?: { required: boolean; staleBefore: Date };
  },
): Promise<ClaimedRecommendation | null> {
  const approval = options.approval ?? { required: false, staleBefore: options.now };
  return tx.maybeOne(sql.type(claimedRow)`
    UPDATE dispatch_recommendations r SET claimed_by = ${options.instance}, claimed_at = ${sql.timestamp(options.now)}
    WHERE r.id = (
      SELECT c.id FROM dispatch_recommendations c
      WHERE c.status = 'PENDING'
        AND (${options.brokerActive}::boolean
             OR NOT EXISTS (SELECT 1 FROM dispatch_broker_intents i WHERE i.recommendation_id = c.id))
        AND (NOT ${approval.required}::boolean OR c.approval = 'approved'
             OR c.as_of < ${sql.timestamp(approval.staleBefore)})
      ORDER BY c.id
      LIMIT 1
      FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING r.id, r.ticker, r.side, r.as_of, r.close, r.approval, r.approval_by, r.approval_at, r.approval_reason,
              r.inputs->'exits' AS exits`);
}

const factsRow = z.object({
  consecutive_errors: z.number(),
  tripped_at: z.number().nullable(),
  trades_today: z.number(),
  held_quantity: z.number().nullable(),
  held_avg_cost: z.number().nullable(),
  cash: z.number().nullable(),
  candle_ts: z.number().nullable(),
  candle_close: z.number().nullable(),
  candle_interval_sec: z.number().nullable(),
  open_differences: z.number(),
  // Loss limits and the portfolio cap (issue 15).
  starting_cash: z.number().nullable(),
  peak_equity: z.number().nullable(),
  realised_today: z.number(),
  market_value: z.number(),
  unrealised: z.number(),
  in_flight_notional: z.number(),
  open_orders_notional: z.number(),
  open_trips: z.array(z.object({ id: z.number(), kind: z.enum(TRIP_KINDS), tripped_at: z.number() })),
});
export type DecisionFactsRow = z.infer<typeof factsRow>;

/**
 * Everything the gates and the executor need, in one statement (the caller holds the risk
 * lock): the error streak, trades on the exchange-local day `exchangeDate`, the account's
 * position in the ticker and its cash, and the ticker's newest candle at or before `now`.
 *
 * Broker orders are sent without the risk lock, so orders in flight (a committed intent whose
 * recommendation is still PENDING: sent, or about to be, and not yet recorded) count as if they
 * had filled: each is a trade today, and its quantity is part of the position (a BUY adds, a
 * SELL removes). Two dispatchers therefore cannot both take the 20th trade of the day or both
 * enter (or both exit) one ticker while the first order is still on its way. The
 * recommendation being decided (`recommendationId`) is left out: its own intent is from an
 * earlier attempt whose order the broker said it never received.
 *
 * For the loss limits and the portfolio cap (issue 15): the account's realised P&L of the fills
 * on the exchange day, its positions marked at each ticker's newest trusted close (at cost
 * without one), its stored peak equity, the notional of every order in flight (at the price it
 * was sized at) and of open orders' unfilled remainder (at the newest close), and its open
 * trips. One probe of lane_telemetry's primary key per held ticker.
 */
export async function readDecisionFacts(
  tx: CommonQueryMethods,
  options: { account: Account; ticker: string; now: Date; exchangeDate: string; recommendationId: number },
): Promise<DecisionFactsRow> {
  const { account, ticker, exchangeDate } = options;
  const dayStart = sql.fragment`(${exchangeDate}::date::timestamp AT TIME ZONE ${EXCHANGE_TIME_ZONE})`;
  const dayEnd = sql.fragment`((${exchangeDate}::date + 1)::timestamp AT TIME ZONE ${EXCHANGE_TIME_ZONE})`;
  return tx.one(sql.type(factsRow)`
    WITH in_flight AS (
      SELECT i.created_at, i.order_request FROM dispatch_recommendations r
      JOIN dispatch_broker_intents i ON i.recommendation_id = r.id
      WHERE r.status = 'PENDING' AND r.id <> ${options.recommendationId} AND ${account} = 'alpaca-paper'
    ), in_flight_here AS (
      SELECT coalesce(sum(CASE WHEN order_request->>'side' = 'BUY' THEN 1 ELSE -1 END
                          * (order_request->>'quantity')::float8), 0) AS quantity,
             max((order_request->>'referencePrice')::float8) AS price
      FROM in_flight WHERE order_request->>'ticker' = ${ticker}
    ), open_here AS (
      -- Orders placed and not yet terminal (issue 15: positions move by fills): their unfilled
      -- remainder counts like an order in flight, so an accepted BUY cannot be entered twice.
      SELECT coalesce(sum(CASE WHEN side = 'BUY' THEN 1 ELSE -1 END * (quantity - filled_qty)), 0) AS quantity,
             max(filled_notional / nullif(filled_qty, 0)) AS price
      FROM dispatch_orders WHERE account = ${account} AND ticker = ${ticker} AND NOT terminal
        AND leg IS NULL -- a bracket's legs are the position's exits, not orders in flight
    )
    SELECT s.consecutive_errors, s.tripped_at,
      (SELECT count(*)::int FROM dispatch_executions WHERE executed_at >= ${dayStart} AND executed_at < ${dayEnd})
        + (SELECT count(*)::int FROM in_flight WHERE created_at >= ${dayStart} AND created_at < ${dayEnd})
        AS trades_today,
      CASE WHEN coalesce(p.quantity, 0) + f.quantity + o.quantity > 1e-9
        THEN coalesce(p.quantity, 0) + f.quantity + o.quantity END AS held_quantity,
      CASE WHEN coalesce(p.quantity, 0) + f.quantity + o.quantity > 1e-9
        THEN coalesce(p.avg_cost, f.price, o.price, c.close) END AS held_avg_cost,
      a.cash, c.ts AS candle_ts, c.close AS candle_close, c.interval_sec AS candle_interval_sec,
      (SELECT count(*)::int FROM dispatch_reconcile_diffs
       WHERE account = ${account} AND resolved_at IS NULL AND accepted_at IS NULL) AS open_differences,
      a.starting_cash, a.peak_equity,
      (SELECT coalesce(sum(realised_pnl), 0) FROM dispatch_fills
       WHERE account = ${account} AND filled_at >= ${dayStart} AND filled_at < ${dayEnd}) AS realised_today,
      m.market_value, m.unrealised,
      (SELECT coalesce(sum(CASE WHEN order_request->>'side' = 'BUY' THEN 1 ELSE -1 END
                           * (order_request->>'quantity')::float8 * (order_request->>'referencePrice')::float8), 0)
       FROM in_flight) AS in_flight_notional,
      (SELECT coalesce(sum(CASE WHEN d.side = 'BUY' THEN 1 ELSE -1 END * (d.quantity - d.filled_qty)
                           * coalesce(oc.close, d.filled_notional / nullif(d.filled_qty, 0), 0)), 0)
       FROM dispatch_orders d
       LEFT JOIN LATERAL (
         SELECT close FROM lane_telemetry
         WHERE ticker = d.ticker AND ts <= ${sql.timestamp(options.now)} ORDER BY ts DESC LIMIT 1
       ) oc ON true
       WHERE d.account = ${account} AND NOT d.terminal
         -- a bracket's legs are the position's exits, not orders that change its exposure
         AND d.leg IS NULL) AS open_orders_notional,
      (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'kind', kind,
                                 'tripped_at', floor(extract(epoch FROM tripped_at) * 1000)) ORDER BY id), '[]'::jsonb)
       FROM dispatch_trading_trips WHERE account = ${account} AND acknowledged_at IS NULL) AS open_trips
    FROM dispatch_error_streak s
    CROSS JOIN in_flight_here f
    CROSS JOIN open_here o
    CROSS JOIN (
      SELECT coalesce(sum(pp.quantity * coalesce(pc.close, pp.avg_cost)), 0) AS market_value,
             coalesce(sum(pp.quantity * (coalesce(pc.close, pp.avg_cost) - pp.avg_cost)), 0) AS unrealised
      FROM dispatch_positions pp
      LEFT JOIN LATERAL (
        SELECT close FROM lane_telemetry
        WHERE ticker = pp.ticker AND ts <= ${sql.timestamp(options.now)} ORDER BY ts DESC LIMIT 1
      ) pc ON true
      WHERE pp.account = ${account}
    ) m
    LEFT JOIN dispatch_positions p ON p.account = ${account} AND p.ticker = ${ticker}
    LEFT JOIN dispatch_accounts a ON a.account = ${account}
    LEFT JOIN LATERAL (
      SELECT ts, close, interval_sec FROM lane_telemetry
      WHERE ticker = ${ticker} AND ts <= ${sql.timestamp(options.now)} ORDER BY ts DESC LIMIT 1
    ) c ON true`);
}

/**
 * Raises the account's stored peak equity to `equity` when it is higher (the caller holds the
 * risk lock). An account without a row yet has only its starting cash: nothing to raise.
 */
export async function raisePeakEquity(
  tx: CommonQueryMethods,
  options: { account: Account; equity: number; now: Date },
): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE dispatch_accounts SET peak_equity = ${options.equity}, peak_equity_at = ${sql.timestamp(options.now)}
    WHERE account = ${options.account} AND ${options.equity} > coalesce(peak_equity, starting_cash)`);
}

/**
 * Records loss-limit trips and their audit rows in the caller's transaction (it holds the risk
 * lock). A trip of a kind already open for the account is skipped by the open-trip unique
 * index, so a breach that persists is one trip. Returns the ids of the trips written.
 */
export async function recordTrips(
  tx: CommonQueryMethods,
  options: { account: Account; trips: readonly NewTrip[]; recommendationId: number; by: string; now: Date },
): Promise<number[]> {
  const at = sql.timestamp(options.now);
  const ids: number[] = [];
  for (const trip of options.trips) {
    const id = await tx.maybeOneFirst(sql.type(z.object({ id: z.number() }))`
      WITH trip AS (
        INSERT INTO dispatch_trading_trips (account, kind, reason, gate_values, recommendation_id, tripped_at, tripped_by)
        VALUES (${options.account}, ${trip.kind}, ${trip.reason}, ${sql.jsonb(trip.values as never)},
                ${options.recommendationId}, ${at}, ${options.by})
        ON CONFLICT (account, kind) WHERE acknowledged_at IS NULL DO NOTHING
        RETURNING id, reason, gate_values
      ), audit AS (
        INSERT INTO dispatch_trading_audit (trip_id, event, at, actor, reason, gate_values)
        SELECT id, 'tripped', ${at}, ${options.by}, reason, gate_values FROM trip
      )
      SELECT id FROM trip`);
    if (id !== null) ids.push(id);
  }
  return ids;
}

const accountStateRow = z.object({
  cash: z.number().nullable(),
  held_quantity: z.number().nullable(),
  held_avg_cost: z.number().nullable(),
});

/**
 * The account's cash and its position in `ticker` as they stand (the caller holds the risk
 * lock): what a fill is applied to when the order was sent without the lock.
 */
export async function readAccountState(
  tx: CommonQueryMethods,
  options: { account: Account; ticker: string },
): Promise<AccountState> {
  const row = await tx.one(sql.type(accountStateRow)`
    SELECT a.cash, p.quantity AS held_quantity, p.avg_cost AS held_avg_cost
    FROM (SELECT 1) AS one
    LEFT JOIN dispatch_accounts a ON a.account = ${options.account}
    LEFT JOIN dispatch_positions p ON p.account = ${options.account} AND p.ticker = ${options.ticker}`);
  return {
    cash: row.cash,
    held:
      row.held_quantity !== null && row.held_avg_cost !== null
        ? { quantity: row.held_quantity, avgCost: row.held_avg_cost }
        : null,
  };
}

const intentRow = z.object({ order_request: z.unknown(), gate_decisions: z.unknown() });
export type BrokerIntentRow = z.infer<typeof intentRow>;

/** The write-ahead intent of an earlier attempt at this recommendation, if one was written. */
export async function readBrokerIntent(
  tx: CommonQueryMethods,
  recommendationId: number,
): Promise<BrokerIntentRow | null> {
  return tx.maybeOne(sql.type(intentRow)`
    SELECT order_request, gate_decisions FROM dispatch_broker_intents WHERE recommendation_id = ${recommendationId}`);
}

/**
 * Writes the write-ahead intent for a broker order on `autonomous` (a pool, not the claiming
 * transaction), so it is committed before the order leaves: whoever claims the recommendation
 * after a crash knows an order may exist and must ask the broker first.
 */
export async function recordBrokerIntent(
  autonomous: CommonQueryMethods,
  intent: {
    recommendationId: number;
    clientOrderId: string;
    instance: string;
    now: Date;
    order: PlannedOrder & { ticker: string };
    decisions: readonly GateDecision[];
  },
): Promise<void> {
  await autonomous.query(sql.unsafe`
    INSERT INTO dispatch_broker_intents
      (recommendation_id, client_order_id, executor, instance, created_at, order_request, gate_decisions)
    VALUES (${intent.recommendationId}, ${intent.clientOrderId}, 'alpaca-paper', ${intent.instance},
            ${sql.timestamp(intent.now)}, ${sql.jsonb(intent.order as never)}, ${sql.jsonb(intent.decisions as never)})
    ON CONFLICT (recommendation_id) DO UPDATE SET
      instance = EXCLUDED.instance, created_at = EXCLUDED.created_at,
      order_request = EXCLUDED.order_request, gate_decisions = EXCLUDED.gate_decisions`);
}

/** Thrown when a recommendation this dispatcher claimed is no longer PENDING (a bug or a lost claim). */
export class LostClaimError extends Error {
  override readonly name = "LostClaimError";
  constructor(readonly recommendationId: number) {
    super(`recommendation ${recommendationId} left PENDING under us`);
  }
}

/**
 * Records a rejection or a failure: one UPDATE leaves PENDING (invariant 4); the status guard
 * makes a lost claim fail loudly.
 * @throws LostClaimError when the recommendation is no longer PENDING.
 */
export async function recordDecision(
  tx: CommonQueryMethods,
  id: number,
  now: Date,
  outcome:
    | { status: "REJECTED"; gate: string; decisions: readonly GateDecision[] }
    | { status: "FAILED"; error: string; decisions: readonly GateDecision[] },
): Promise<void> {
  const result = await tx.query(sql.unsafe`
    UPDATE dispatch_recommendations SET
      status = ${outcome.status},
      decided_at = ${sql.timestamp(now)},
      rejected_gate = ${outcome.status === "REJECTED" ? outcome.gate : null},
      error = ${outcome.status === "FAILED" ? outcome.error : null},
      gate_decisions = ${sql.jsonb(outcome.decisions as never)}
    WHERE id = ${id} AND status = 'PENDING'`);
  if (result.rowCount !== 1) throw new LostClaimError(id);
}

/**
 * Records an execution in one statement: the execution row, the error streak's reset (a
 * success breaks it) and the recommendation's move to EXECUTED (invariant 4).
 * @throws LostClaimError when the recommendation is no longer PENDING.
 */
export async function recordExecuted(
  tx: CommonQueryMethods,
  rec: ClaimedRecommendation,
  result: ExecutionResult,
  decisions: readonly GateDecision[],
  now: Date,
): Promise<void> {
  const at = sql.timestamp(now);
  const updated = await tx.query(sql.unsafe`
    WITH execution AS (
      INSERT INTO dispatch_executions
        (recommendation_id, executor, client_order_id, broker_order_id, ticker, side, quantity, price, notional,
         fees, executed_at, details, account, realised_pnl)
      VALUES (${rec.id}, ${result.executor}, ${String(rec.id)}, ${result.brokerOrderId}, ${rec.ticker}, ${rec.side},
              ${result.quantity}, ${result.price}, ${result.quantity * result.price}, ${result.fees},
              ${at}, ${sql.jsonb(result.details as never)}, ${result.account}, ${result.realisedPnl})
      RETURNING recommendation_id
    ), streak AS (
      UPDATE dispatch_error_streak SET consecutive_errors = 0 WHERE consecutive_errors <> 0 RETURNING 1
    )
    UPDATE dispatch_recommendations SET status = 'EXECUTED', decided_at = ${at},
      gate_decisions = ${sql.jsonb(decisions as never)}
    WHERE id = (SELECT recommendation_id FROM execution) AND status = 'PENDING'`);
  if (updated.rowCount !== 1) throw new LostClaimError(rec.id);
}

const streakRow = z.object({ consecutive_errors: z.number(), tripped_at: z.number().nullable() });
export type ErrorStreakRow = z.infer<typeof streakRow>;

/**
 * Adds one execution error to the shared streak and returns it as it now stands. One UPDATE of
 * the single streak row: concurrent counters queue on its row lock, so no error is lost and
 * each sees its own count (the caller holds the risk lock, so the trip that may follow is
 * decided before any other dispatcher gates).
 */
export async function incrementErrorStreak(
  tx: CommonQueryMethods,
  options: { message: string; now: Date },
): Promise<ErrorStreakRow> {
  return tx.one(sql.type(streakRow)`
    UPDATE dispatch_error_streak SET consecutive_errors = consecutive_errors + 1,
      last_error = ${options.message}, last_error_at = ${sql.timestamp(options.now)}
    RETURNING consecutive_errors, tripped_at`);
}

/** Marks the streak tripped: from now on only an operator's reset lets orders through. */
export async function markStreakTripped(tx: CommonQueryMethods, now: Date): Promise<void> {
  await tx.query(sql.unsafe`UPDATE dispatch_error_streak SET tripped_at = ${sql.timestamp(now)}`);
}

/** Clears the streak after an operator disengaged the kill switch. */
export async function clearErrorStreak(tx: CommonQueryMethods): Promise<void> {
  await tx.query(sql.unsafe`UPDATE dispatch_error_streak SET consecutive_errors = 0, tripped_at = NULL`);
}

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
