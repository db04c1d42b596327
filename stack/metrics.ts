// The metric contract lives with the services (the watchdog emits it); the stack alarms on it.
export { WATCHDOG_METRICS, type WatchedStage } from "../services/common/metrics.ts";
