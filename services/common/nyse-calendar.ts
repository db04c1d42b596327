/**
 * NYSE market holidays and early closes, kept as data (invariant 5's market-hours gate reads
 * this, never a network calendar). Each date was checked against NYSE Rule 7.2's pattern, and
 * test/common/nyse-calendar.test.ts re-derives every one from the rules (nth weekday,
 * Easter, Saturday → Friday / Sunday → Monday observance, no Friday close for a Saturday New
 * Year's Day). A year missing here is not guessed: the gate rejects with "no calendar".
 */
export interface ExchangeYear {
  /** Full-day closures, exchange-local dates (YYYY-MM-DD) with the holiday's name. */
  readonly holidays: Readonly<Record<string, string>>;
  /** Early closes at 13:00 exchange time, with the reason. */
  readonly earlyCloses: Readonly<Record<string, string>>;
}

/** Regular session, exchange-local minutes after midnight. */
export const NYSE_OPEN_MINUTE = 9 * 60 + 30;
export const NYSE_CLOSE_MINUTE = 16 * 60;
export const NYSE_EARLY_CLOSE_MINUTE = 13 * 60;

export const NYSE_CALENDAR: Readonly<Record<number, ExchangeYear>> = {
  2026: {
    holidays: {
      "2026-01-01": "New Year's Day",
      "2026-01-19": "Martin Luther King, Jr. Day",
      "2026-02-16": "Washington's Birthday",
      "2026-04-03": "Good Friday",
      "2026-05-25": "Memorial Day",
      "2026-06-19": "Juneteenth National Independence Day",
      "2026-07-03": "Independence Day (observed; July 4 is a Saturday)",
      "2026-09-07": "Labor Day",
      "2026-11-26": "Thanksgiving Day",
      "2026-12-25": "Christmas Day",
    },
    earlyCloses: {
      "2026-11-27": "day after Thanksgiving",
      "2026-12-24": "Christmas Eve",
    },
  },
  2027: {
    holidays: {
      "2027-01-01": "New Year's Day",
      "2027-01-18": "Martin Luther King, Jr. Day",
      "2027-02-15": "Washington's Birthday",
      "2027-03-26": "Good Friday",
      "2027-05-31": "Memorial Day",
      "2027-06-18": "Juneteenth National Independence Day (observed; June 19 is a Saturday)",
      "2027-07-05": "Independence Day (observed; July 4 is a Sunday)",
      "2027-09-06": "Labor Day",
      "2027-11-25": "Thanksgiving Day",
      "2027-12-24": "Christmas Day (observed; December 25 is a Saturday)",
    },
    // No July early close in 2027 (July 3 is a Saturday) and none on Dec 23: NYSE closes early
    // on Christmas Eve only when Christmas Eve is itself a trading day.
    earlyCloses: {
      "2027-11-26": "day after Thanksgiving",
    },
  },
};
