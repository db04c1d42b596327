// The opsctl entry point: the program lives in program.ts so tests can build it without running it.
import { main } from "./program.ts";

process.exitCode = await main(process.argv);
