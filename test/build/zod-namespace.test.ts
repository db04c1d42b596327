import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";
import { rewriteNamedZodImport, zodNamespacePlugin } from "../../scripts/lib/zod-namespace.ts";

const ROOT = path.resolve(import.meta.dirname, "..", "..");
const LOCALE = /zod\/v4\/locales\/zh-TW\.js/;

describe("build: zod imported as a namespace", () => {
  it("rewrites only the named `z` import statement", () => {
    assert.equal(
      rewriteNamedZodImport('import x from "y";\nimport { z } from "zod";\nz.string();'),
      'import x from "y";\nimport * as z from "zod";\nz.string();',
    );
    const others = 'import { z as zz } from "zod";\nimport { object } from "zod";';
    assert.equal(rewriteNamedZodImport(others), others);
  });

  // What the plugin is for: slonik's `import { z }` alone pulls all of zod (its locales too) into
  // a bundle. With the plugin the bundle keeps what is used, and slonik's own checks still run.
  it("keeps zod's locales out of a slonik bundle, whose sql tag still validates its input", async function () {
    this.timeout(60_000);
    const dir = await mkdtemp(path.join(os.tmpdir(), "ops-zod-ns-"));
    // Inside the repository so the bundler resolves slonik and zod from its node_modules.
    const entry = path.join(ROOT, "dist", `.test-zod-entry-${process.pid}.ts`);
    try {
      await writeFile(
        entry,
        [
          'import { sql } from "slonik";',
          'import * as z from "zod";',
          // biome-ignore-start lint/suspicious/noTemplateCurlyInString: source text of the bundled module
          "export const query = sql.type(z.object({ n: z.number() }))`SELECT ${1}::int AS n`;",
          "export const interval = (days: unknown) => sql.unsafe`SELECT ${sql.interval({ days: days as number })}`;",
          // biome-ignore-end lint/suspicious/noTemplateCurlyInString: source text of the bundled module
        ].join("\n"),
      );
      const bundle = async (name: string, plugins: Plugin[]) => {
        const outfile = path.join(dir, `${name}.mjs`);
        await build({
          entryPoints: [entry],
          outfile,
          bundle: true,
          format: "esm",
          platform: "node",
          target: "node24",
          external: ["pg-native"],
          banner: {
            js: 'import { createRequire as __c } from "node:module"; const require = __c(import.meta.url);',
          },
          plugins,
          logLevel: "error",
        });
        return outfile;
      };
      const plain = await readFile(await bundle("plain", []), "utf8");
      const leanFile = await bundle("lean", [zodNamespacePlugin]);
      const lean = await readFile(leanFile, "utf8");
      assert.match(plain, LOCALE, "without the plugin every locale is bundled");
      assert.doesNotMatch(lean, LOCALE);
      console.log(
        `      slonik bundle: ${(plain.length / 1024).toFixed(0)} KiB, ${(lean.length / 1024).toFixed(0)} KiB with the rewrite`,
      );
      assert.ok(lean.length < plain.length - 300_000, `lean ${lean.length} B vs plain ${plain.length} B`);

      const loaded = (await import(pathToFileURL(leanFile).href)) as {
        query: { sql: string; values: readonly unknown[] };
        interval: (days: unknown) => { sql: string; values: readonly unknown[] };
      };
      assert.match(loaded.query.sql, /^SELECT \$slonik_1::int AS n$/);
      assert.deepEqual(loaded.query.values, [1]);
      assert.equal(loaded.interval(2).sql, "SELECT make_interval(days => $slonik_1)");
      // slonik checks the interval's fields with its zod schema: the rewritten import still does.
      assert.throws(() => loaded.interval("two"));
    } finally {
      await rm(entry, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
