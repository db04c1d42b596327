import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { bundleLambda, lambdaBuildOptions, MissingHandlerError } from "../../scripts/bundle-lambdas.ts";
import { LAMBDAS, OPS_API } from "../../stack/plan.ts";
import { ROOT } from "./harness.ts";

// The bundle goes under dist/ (ignored by git) so that Node resolves the runtime-provided
// @aws-sdk packages from the repository's node_modules when the test imports it.
const OUT = `dist/.test-lambda-${process.pid}`;

describe("stack: Lambda bundling", () => {
  after(() => rm(path.join(ROOT, OUT), { recursive: true, force: true }));

  it("bundles a handler built on the shared adapter into one ESM file exporting handler", async function () {
    this.timeout(120_000);
    const bundle = await bundleLambda("sample-stage", {
      root: ROOT,
      outDir: OUT,
      entry: "test/stack/fixtures/sample-stage/lambda.ts",
    });
    assert.equal(path.basename(bundle.file), "index.mjs");
    const zipped = gzipSync(await readFile(bundle.file)).length;
    console.log(
      `      sample-stage bundle: ${(bundle.bytes / 1024).toFixed(0)} KiB, ${(zipped / 1024).toFixed(0)} KiB gzipped`,
    );
    assert.ok(bundle.bytes < 2 * 1024 * 1024, "under 2 MiB unzipped");
    const module = (await import(pathToFileURL(bundle.file).href)) as { handler?: unknown };
    assert.equal(typeof module.handler, "function");
  });

  it("keeps the runtime's AWS SDK out of the bundle and targets Node 24 ESM", () => {
    const options = lambdaBuildOptions("inbound-dock", { root: ROOT });
    assert.deepEqual(options.external, ["@aws-sdk/*", "pg-native"]);
    assert.equal(options.format, "esm");
    assert.equal(options.target, "node24");
    assert.equal(options.outfile, path.join(ROOT, "dist/lambda/inbound-dock/index.mjs"));
    assert.deepEqual(options.entryPoints, [path.join(ROOT, "services/inbound-dock/lambda.ts")]);
  });

  it("names the missing handler file and what it must export", async () => {
    await assert.rejects(
      bundleLambda("no-such-stage", { root: ROOT, outDir: OUT }),
      (error: unknown) =>
        error instanceof MissingHandlerError &&
        error.entry === "services/no-such-stage/lambda.ts" &&
        /must export `handler`/.test(error.message),
    );
  });

  it("bundles every handler the stack deploys and reports its size", async function () {
    this.timeout(120_000);
    // The scheduled stages and the ops-api opsctl invokes; a missing handler fails the bundle.
    for (const lambda of [...LAMBDAS, OPS_API]) {
      const bundle = await bundleLambda(lambda.stage, { root: ROOT, outDir: OUT });
      const zipped = gzipSync(await readFile(bundle.file)).length;
      console.log(
        `      ${lambda.stage}: ${(bundle.bytes / 1024).toFixed(0)} KiB, ${(zipped / 1024).toFixed(0)} KiB gzipped`,
      );
      assert.ok(bundle.bytes < 5 * 1024 * 1024, `${lambda.stage} bundle under 5 MiB`);
    }
  });
});
