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

/**
 * Key names whose values are secrets wherever they appear, at any depth (REDACT_PATHS above only
 * reach the depths they name). Matched case-insensitively against the whole key; string, object
 * and array values are replaced, numbers and booleans pass (a count named `tokens` is no secret).
 */
const SECRET_KEY =
  /^(.*[_-]?)?(password|passwd|secret|secrets|secret[_-]?key|token|tokens|access[_-]?token|refresh[_-]?token|authorization|cookie|set-cookie|credentials?|api[_-]?key|api[_-]?secret|key[_-]?id|access[_-]?key([_-]?id)?|private[_-]?key|apca-api-key-id|apca-api-secret-key|signature)$/i;
/** Key names holding a URL or connection string: reduced to their origin (scheme, host, port). */
const URL_KEY = /(url|uri|connection[_-]?string|dsn|endpoint)$/i;

/**
 * A URL without what may be a credential: `postgres://ops:pw@db:5432/ops?x=1` → `postgres://db:5432/…`.
 * Userinfo, path and query are dropped (a webhook's path is its secret); what is not a URL is censored.
 */
export function urlOrigin(value: string): string {
  try {
    const url = new URL(value);
    const origin = `${url.protocol}//${url.host}`;
    return url.pathname.length > 1 || url.search || url.username || url.password ? `${origin}/…` : origin;
  } catch {
    return CENSOR;
  }
}

const CENSOR = "[redacted]";

/**
 * A copy of `value` with every secret-named key censored and every URL-named string reduced to its
 * origin, at any depth. Errors are left to pino's serializer (their own fields are not walked).
 */
export function redactByKeyName(value: unknown, seen: WeakSet<object> = new WeakSet(), depth = 0): unknown {
  if (value === null || typeof value !== "object" || value instanceof Error || value instanceof Date)
    return value;
  if (seen.has(value) || depth > 10) return "[circular or too deep]";
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactByKeyName(item, seen, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (
      SECRET_KEY.test(key) &&
      (typeof inner === "string" || (inner !== null && typeof inner === "object"))
    ) {
      out[key] = CENSOR;
    } else if (URL_KEY.test(key) && typeof inner === "string") {
      out[key] = urlOrigin(inner);
    } else {
      out[key] = redactByKeyName(inner, seen, depth + 1);
    }
  }
  return out;
}

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
  const logger = pino(
    {
      level: options.level,
      base: redactByKeyName(options.base ?? { service: "ops-pipeline" }) as Record<string, unknown>,
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // By key name at any depth, on every line's fields.
        log: (object) => redactByKeyName(object) as Record<string, unknown>,
      },
    },
    options.destination ?? consoleStream(options.pretty, options.color ?? false),
  );
  // pino's bindings formatter sees only the root's base, not a child's bindings: redact those as
  // the child is made. Children inherit from their parent, so this covers grandchildren too.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactByKeyName(bindings) as typeof bindings, childOptions);
  } as typeof logger.child;
  return logger;
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
