import isInCi from "is-in-ci";
import { OperatorError } from "../../services/common/errors.ts";

export interface ConfirmEnvironment {
  /** --yes was given. */
  yes: boolean;
  /** Both stdin and stdout are terminals, so a person can answer. */
  tty: boolean;
  /**
   * CI is set: Ink draws only its last frame there, so a prompt would wait unseen. Treated as no
   * terminal: the command refuses and asks for --yes.
   */
  ci?: boolean;
  /** Asks the person; resolves true when they typed the word. */
  ask: (message: string, expected: string) => Promise<boolean>;
}

/**
 * The guard in front of a dangerous change: `--yes` skips it; without a terminal and without
 * `--yes` it refuses (a script must say --yes on purpose); on a terminal the operator types
 * `expected`.
 * @throws OperatorError CONFIRMATION_REQUIRED (no terminal, no --yes) or NOT_CONFIRMED (typed something else).
 */
export async function requireTypedConfirmation(
  env: ConfirmEnvironment,
  message: string,
  expected: string,
  retry: string,
): Promise<void> {
  if (env.yes) return;
  if (!env.tty || env.ci === true) {
    const why = env.tty ? "CI is set, so the terminal cannot show the prompt" : "there is no terminal";
    throw new OperatorError("CONFIRMATION_REQUIRED", `${message} needs a typed confirmation and ${why}`, {
      hint: `re-run with --yes if you mean it: ${retry} --yes`,
    });
  }
  if (!(await env.ask(message, expected))) {
    throw new OperatorError("NOT_CONFIRMED", "not confirmed: nothing changed", {
      hint: `run ${retry} again and type ${expected}`,
    });
  }
}

/** Asks on the real terminal with the Ink prompt. */
export async function askOnTerminal(message: string, expected: string): Promise<boolean> {
  const [{ render }, { createElement }, { TypeToConfirm }] = await Promise.all([
    import("ink"),
    import("react"),
    import("./ui/confirm.tsx"),
  ]);
  return new Promise<boolean>((resolve) => {
    const instance = render(
      createElement(TypeToConfirm, {
        message,
        expected,
        onDone: (confirmed: boolean) => {
          setImmediate(() => {
            instance.unmount();
            resolve(confirmed);
          });
        },
      }),
      { exitOnCtrlC: false },
    );
  });
}

export function terminalConfirmEnvironment(yes: boolean): ConfirmEnvironment {
  return {
    yes,
    tty: process.stdin.isTTY === true && process.stdout.isTTY === true,
    ci: isInCi,
    ask: askOnTerminal,
  };
}
