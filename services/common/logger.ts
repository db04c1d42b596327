import { createRequire } from "node:module";
import { type DestinationStream, type Logger, pino } from "pino";
import type PinoPrettyModule from "pino-pretty";

// pino-pretty is loaded only when a pretty logger is made: importing it costs ~170 ms (measured on
// the dev box), which every `opsctl ... --json` and every Lambda cold start would otherwise pay.
const requireModule = createRequire(import.meta.url);

export type { Logger } from "pino";

/**
 * Paths redacted from every log line. Secrets reach loggers through config objects, errors
 * carrying connection strings and HTTP headers; redact them by path (pino's fast-redact) so a
 * careless `log.info({ config })` still prints nothing secret.
 */
export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.*.password",
  "databaseUrl",
  "*.databaseUrl",
  "connectionUri",
  "*.connectionUri",
  "secret",
  "*.secret",
  "*.secrets",
  "apiKey",
  "*.apiKey",
  "*.*.apiKey",
  "apiSecret",
  "*.apiSecret",
  "*.*.apiSecret",
  "token",
  "*.token",
  "headers.authorization",
  "*.headers.authorization",
  'headers["apca-api-secret-key"]',
  '*.headers["apca-api-secret-key"]',
];

export interface LoggerOptions {
  level: string;
  /** Human-readable lines (pino-pretty) instead of JSON. */
  pretty: boolean;
  /** ANSI colours in pretty output (off under NO_COLOR). */
  color?: boolean;
  /** Where lines go; stderr by default so stdout stays for command output. */
  destination?: DestinationStream;
  /** Bound to every line, e.g. `{ service: "ops-pipeline" }`. */
  base?: Record<string, unknown>;
}

/**
 * Whether a console stream gets pino-pretty's lines: LOG_FORMAT=pretty, or auto on a terminal.
 */
export function prettyOn(format: "pretty" | "json" | "auto", isTTY: boolean): boolean {
  return format === "pretty" || (format === "auto" && isTTY);
}

/** The console as pino writes to it (fd 2 unless said): JSON lines, or pino-pretty's one-liners. */
function consoleStream(pretty: boolean, color: boolean, fd = 2): DestinationStream {
  if (!pretty) return pino.destination({ dest: fd, sync: true });
  return (requireModule("pino-pretty") as typeof PinoPrettyModule)({
    destination: fd,
    colorize: color,
    sync: true,
    singleLine: true,
    translateTime: "SYS:HH:MM:ss.l",
  });
}

/** The one root logger of a process. Stages take `root.child({ stage })`. */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: options.base ?? { service: "ops-pipeline" },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? consoleStream(options.pretty, options.color ?? false),
  );
}

/**
 * Where `opsctl dev` logs: JSON lines appended to `file` (what `opsctl logs` reads) and, unless a
 * dashboard owns the terminal (`console: false`), the console as well, pretty or JSON as it says;
 * both at `level`. `flushSync()` before exiting writes what is still buffered.
 */
export function localLogDestination(
  file: string,
  options: { level: string; console: false | { pretty: boolean; color: boolean; fd?: number } },
): DestinationStream & { flushSync(): void } {
  const fileStream = pino.destination({ dest: file, append: true, sync: false });
  if (!options.console) return fileStream;
  const level = options.level as pino.Level;
  const { pretty, color, fd } = options.console;
  return pino.multistream([
    { stream: fileStream, level },
    { stream: consoleStream(pretty, color, fd), level },
  ]);
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
