import assert from "node:assert/strict";
import type { Command } from "commander";
import { buildProgram } from "../../cli/src/program.ts";

function allCommands(command: Command, prefix: string[] = []): { path: string[]; command: Command }[] {
  return command.commands.flatMap((child) => {
    const path = [...prefix, child.name()];
    return [{ path, command: child }, ...allCommands(child, path)];
  });
}

describe("opsctl program", () => {
  it("gives every command and subcommand a description and help with examples", () => {
    const commands = allCommands(buildProgram());
    const names = commands.map((entry) => entry.path.join(" "));
    for (const expected of [
      "status",
      "recs",
      "recs show",
      "dry-run",
      "kill-switch",
      "params list",
      "params set",
      "params audit",
      "logs",
      "dev",
      "migrate",
      "reconcile",
      "positions",
      "orders",
      "recs approve",
      "recs reject",
      "trading",
    ]) {
      assert.ok(names.includes(expected), `${expected} is registered`);
    }
    for (const { path, command } of commands) {
      assert.ok(command.description().length > 10, `${path.join(" ")} has a description`);
      let help = "";
      command.configureOutput({
        writeOut: (text) => {
          help += text;
        },
        writeErr: (text) => {
          help += text;
        },
      });
      command.outputHelp();
      assert.match(help, /Examples?:/, `${path.join(" ")} --help shows examples`);
    }
  });
});
