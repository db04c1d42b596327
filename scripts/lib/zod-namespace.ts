// esbuild plugin: a dependency's `import { z } from "zod"` bundled as `import * as z from "zod"`.
//
// zod's index exports `z` as a namespace object. Imported by name, that object must exist whole at
// run time, so a bundle carries all of zod, its 40-odd locales and JSON-schema tooling included.
// Imported as a namespace, esbuild keeps only the members the code reads. Both forms read the same
// namespace (zod/v4/classic/external), so the rewrite changes nothing but size. Our own code
// imports `* as z`; slonik's sql-tag and utilities still import `{ z }`, which alone put the full
// zod back into every bundle that loads slonik. test/build/zod-namespace.test.ts prints a slonik
// bundle's size with and without the rewrite (about 1,090 and 490 KiB).
import { readFile } from "node:fs/promises";
import type { Plugin } from "esbuild";

const NAMED_Z = /^import \{ z \} from "zod";$/m;

/** Rewrites the one statement; any other form of zod import is left as it is. */
export function rewriteNamedZodImport(source: string): string {
  return source.replace(NAMED_Z, 'import * as z from "zod";');
}

export const zodNamespacePlugin: Plugin = {
  name: "ops-pipeline/zod-namespace",
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]@?slonik[\\/].*\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      if (!NAMED_Z.test(source)) return undefined;
      return { contents: rewriteNamedZodImport(source), loader: "js" };
    });
  },
};
