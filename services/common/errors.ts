/**
 * Two kinds of error, after Shopify's cli-kit: an `OperatorError` is something the person
 * running the pipeline can fix (a wrong URL, a port in use) and carries the next step to try;
 * anything else is a bug and shows its stack.
 */
export class OperatorError extends Error {
  override readonly name: string = "OperatorError";
  /** What to try next, in one sentence. */
  readonly hint: string | undefined;
  /** A short machine-readable code for `--json` output and tests. */
  readonly code: string;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }
}

/** The configuration could not be parsed; names the key. */
export class ConfigError extends OperatorError {
  override readonly name = "ConfigError";
  readonly key: string;
  constructor(key: string, message: string, hint?: string) {
    super("CONFIG_INVALID", `configuration ${key}: ${message}`, hint === undefined ? {} : { hint });
    this.key = key;
  }
}

/** The database cannot be reached or refused the connection. */
export class DatabaseUnavailableError extends OperatorError {
  override readonly name = "DatabaseUnavailableError";
  constructor(target: string, cause: unknown, hint?: string) {
    super("DATABASE_UNAVAILABLE", `cannot connect to the database at ${target}: ${describeCause(cause)}`, {
      hint:
        hint ?? "check DATABASE_URL (host, port, user, database) or unset it to use the embedded database",
      cause,
    });
  }
}

/** Migration files and the recorded history disagree. */
export class MigrationError extends OperatorError {
  override readonly name = "MigrationError";
  readonly file: string | undefined;
  constructor(
    code: string,
    message: string,
    options: { file?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.file = options.file;
  }
}

/** The embedded PostgreSQL could not start. */
export class EmbeddedDatabaseError extends OperatorError {
  override readonly name = "EmbeddedDatabaseError";
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
    const code = (cause as { code?: unknown }).code;
    const base = cause.message || (typeof code === "string" ? code : cause.name);
    return inner && !base.includes(inner.slice(2)) ? `${base}${inner}` : base;
  }
  return String(cause);
}

/** Redacts the password of a postgres:// URL so it can be printed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable URL>";
  }
}
