import { CommanderError } from "commander";
import { OperatorError } from "../../services/common/errors.ts";

/** Exit codes, stable for scripts. Status codes 3 and 4 are `opsctl status`'s WARN and ERROR. */
export const EXIT = { ok: 0, bug: 1, operator: 2, warn: 3, error: 4 } as const;

export interface Output {
  readonly json: boolean;
  /** True when stdout is a terminal: live screens allowed. */
  readonly interactive: boolean;
  /** A result: JSON when --json, else the plain text. */
  result(value: unknown, plain: () => string): void;
  /** Progress and notes, on stderr so stdout stays parseable. */
  note(message: string): void;
}

export function createOutput(options: { json: boolean }): Output {
  return {
    json: options.json,
    interactive: !options.json && process.stdout.isTTY === true,
    result(value, plain) {
      process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${plain()}\n`);
    },
    note(message) {
      if (!options.json) process.stderr.write(`${message}\n`);
    },
  };
}

/**
 * Prints an error the way an operator needs it and returns the exit code: an OperatorError is one
 * line and what to try next; anything else is a bug and shows its stack.
 */
export function reportError(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return EXIT.ok;
    // Without --json commander has already printed its message (and the pointer to --help).
    if (json) {
      const message = error.message.replace(/^error: /, "");
      process.stdout.write(
        `${JSON.stringify({ error: { code: "USAGE", message, hint: "run with --help for usage" } })}\n`,
      );
    }
    return EXIT.operator;
  }
  if (error instanceof OperatorError) {
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ error: { code: error.code, message: error.message, hint: error.hint ?? null } })}\n`,
      );
    } else {
      process.stderr.write(`opsctl: ${error.message}\n`);
      if (error.hint) process.stderr.write(`  next: ${error.hint}\n`);
    }
    return EXIT.operator;
  }
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ error: { code: "BUG", message: String(error), hint: null } })}\n`,
    );
  }
  process.stderr.write(`opsctl: unexpected error (a bug; please report it with this trace)\n`);
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.bug;
}
