// The opsctl entry point: the program lives in program.ts so tests can build it without running it.
import { main } from "./program.ts";

const code = await main(process.argv);
process.exitCode = code;
// The command has finished: whatever still keeps the event loop alive (a stage that ignored the
// shutdown grace period and keeps retrying a dead database) must not keep opsctl running. The
// timer is unref'd, so a clean exit is not delayed by it.
setTimeout(() => process.exit(code), 2_000).unref();
