// Bundles each scheduled stage's Lambda handler (services/<stage>/lambda.ts, exporting
// `handler`) into dist/lambda/<stage>/index.mjs with esbuild: one self-contained ESM file per
// function, so each zip holds only what its handler imports.
//
//   npx tsx scripts/bundle-lambdas.ts [stage...]     (default: every stage in stack/plan.ts)
//
// The AWS SDK v3 stays external: the nodejs24.x runtime ships it, and leaving it out keeps
// each bundle small (the SSM and Secrets Manager clients alone add about 1 MB).
import { existsSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build } from "esbuild";
import { zodNamespacePlugin } from "./lib/zod-namespace.ts";

export interface LambdaBundleOptions {
  /** Repository root: entries and output are resolved against it. */
  root: string;
  /** Output folder; each stage gets `<outDir>/<stage>/index.mjs`. Default dist/lambda. */
  outDir?: string;
  /** The handler file; default services/<stage>/lambda.ts. */
  entry?: string;
}

export interface LambdaBundle {
  readonly stage: string;
  /** The folder to zip (it holds index.mjs only). */
  readonly dir: string;
  readonly file: string;
  readonly bytes: number;
}

/** A handler file that is not there (yet): says which file and what it must export. */
export class MissingHandlerError extends Error {
  override readonly name = "MissingHandlerError";
  constructor(
    readonly stage: string,
    readonly entry: string,
  ) {
    super(
      `${stage}: ${entry} does not exist; it must export \`handler\` (lambdaHandler(stage) from services/common/adapters.ts)`,
    );
  }
}

/** The esbuild options for one stage's bundle. Pure. */
export function lambdaBuildOptions(stage: string, options: LambdaBundleOptions): BuildOptions {
  const entry = path.resolve(options.root, options.entry ?? `services/${stage}/lambda.ts`);
  return {
    entryPoints: [entry],
    outfile: path.resolve(options.root, options.outDir ?? "dist/lambda", stage, "index.mjs"),
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node24",
    // Whitespace and syntax only: identifiers stay, so stack traces in the logs stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    // Runtime-provided (nodejs24.x ships SDK v3); pg-native is pg's optional native binding.
    external: ["@aws-sdk/*", "pg-native"],
    // Some bundled CommonJS dependencies call require() for Node built-ins; ESM has no require.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    plugins: [zodNamespacePlugin],
    logLevel: "warning",
  };
}

/**
 * Bundles one stage.
 * @throws MissingHandlerError when the handler file does not exist; esbuild's error on a build failure.
 */
export async function bundleLambda(stage: string, options: LambdaBundleOptions): Promise<LambdaBundle> {
  const buildOptions = lambdaBuildOptions(stage, options);
  const entry = (buildOptions.entryPoints as string[])[0]!;
  if (!existsSync(entry)) throw new MissingHandlerError(stage, path.relative(options.root, entry));
  const file = buildOptions.outfile!;
  await mkdir(path.dirname(file), { recursive: true });
  await build(buildOptions);
  return { stage, dir: path.dirname(file), file, bytes: (await stat(file)).size };
}

/**
 * Bundles several stages; all of them are attempted, then the first failure is thrown.
 * @throws MissingHandlerError or the build error of the first stage that failed.
 */
export async function bundleLambdas(
  stages: readonly string[],
  options: LambdaBundleOptions,
): Promise<LambdaBundle[]> {
  const results = await Promise.allSettled(stages.map((stage) => bundleLambda(stage, options)));
  const failed = results.find((result) => result.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((result) => (result as PromiseFulfilledResult<LambdaBundle>).value);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { LAMBDAS, OPS_API } = await import("../stack/plan.ts");
  const stages =
    process.argv.length > 2
      ? process.argv.slice(2)
      : [...LAMBDAS.map((lambda) => lambda.stage), OPS_API.stage];
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  let failed = false;
  for (const stage of stages) {
    try {
      const bundle = await bundleLambda(stage, { root });
      console.log(
        `${stage.padEnd(16)} ${(bundle.bytes / 1024).toFixed(1).padStart(8)} KiB  ${path.relative(root, bundle.file)}`,
      );
    } catch (error) {
      failed = true;
      console.error(`${stage.padEnd(16)} FAILED: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  process.exitCode = failed ? 1 : 0;
}
