/**
 * The exchange calendar operator tools read (the demo clock): the dispatcher's NYSE model, the one
 * its market-hours gate uses, so a demo day opens and closes when the gate does.
 */
export { type MarketSession, nyseSession } from "../dispatcher/market-hours.ts";
