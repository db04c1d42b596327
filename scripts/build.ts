// Bundles the CLI (and, with the stack issue, one file per Lambda handler) with esbuild.
// Dependencies stay external for the CLI: it runs from the repository's node_modules.
import { build } from "esbuild";

const started = performance.now();
await build({
  entryPoints: { opsctl: "cli/src/main.ts" },
  outdir: "dist/cli",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node24",
  packages: "external",
  jsx: "automatic",
  sourcemap: "linked",
  logLevel: "warning",
  chunkNames: "chunks/[name]-[hash]",
});
console.error(`built dist/cli in ${Math.round(performance.now() - started)} ms`);
