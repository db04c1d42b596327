import { existsSync } from "node:fs";
import path from "node:path";

/**
 * The shared real-world corpus: `OPS_CORPUS_DIR` when set, else `../shared/corpus` beside the
 * repository (where CI puts it). Never copied into the repo.
 */
export function corpusDir(): string {
  const fromEnv = process.env.OPS_CORPUS_DIR;
  if (fromEnv) return path.resolve(fromEnv);
  return path.resolve(import.meta.dirname, "../../../shared/corpus");
}

/** A corpus file that is not there: evaluations exit 2 with this message, tests skip with it. */
export class CorpusAbsentError extends Error {
  constructor(readonly file: string) {
    super(
      `the corpus file ${file} is absent: put the shared corpus beside the repository (../shared/corpus) ` +
        "or point OPS_CORPUS_DIR at it (see /work/shared/corpus/README.md)",
    );
    this.name = "CorpusAbsentError";
  }
}

/**
 * The absolute path of a corpus file.
 * @throws CorpusAbsentError when it does not exist.
 */
export function corpusFile(relative: string): string {
  const file = path.join(corpusDir(), relative);
  if (!existsSync(file)) throw new CorpusAbsentError(file);
  return file;
}
