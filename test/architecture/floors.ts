import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

/**
 * The floors of the codebase and who may import whom, stated once (docs/architecture.md draws the
 * same picture). A file belongs to one floor by its path; an import is allowed when the importer's
 * floor lists the imported file's floor. Tests, benches, evaluations and scripts stand outside the
 * house: they may import anything, and any floor may import them (the stack bundles its Lambdas
 * with scripts/bundle-lambdas.ts).
 *
 *   cli       (cli/)                                    → cli, ops, common, stack (opsctl cost
 *                                                          prices the stack's pure plan)
 *   ops       (services/ops/, services/ops-api/,
 *              services/registry.ts)                    → ops, stage, common
 *   stage     (services/<stage>/)                       → the same stage, common
 *   common    (services/common/)                        → common
 *   stack     (stack/)                                  → stack, common
 */
export const STAGES = [
  "inbound-dock",
  "sortation",
  "lane-telemetry",
  "dispatch-engine",
  "dispatcher",
  "watchdog",
  "backup",
] as const;

export type Floor = "cli" | "ops" | "stage" | "common" | "stack";

export const MAY_IMPORT: Readonly<Record<Floor, readonly Floor[]>> = {
  cli: ["cli", "ops", "common", "stack"],
  ops: ["ops", "stage", "common"],
  stage: ["stage", "common"],
  common: ["common"],
  stack: ["stack", "common"],
};

export interface Place {
  floor: Floor;
  /** For a stage: its name (a stage may import only itself among the stages). */
  stage?: string;
}

/** The floor of a repository path (posix, relative to the root), or null outside the house. */
export function placeOf(file: string): Place | null {
  const parts = file.split("/");
  if (parts[0] === "cli") return { floor: "cli" };
  if (parts[0] === "stack") return { floor: "stack" };
  if (parts[0] !== "services" || parts.length < 2) return null;
  const second = parts[1] ?? "";
  if (second === "common") return { floor: "common" };
  if (second === "ops" || second === "ops-api" || file === "services/registry.ts") return { floor: "ops" };
  if ((STAGES as readonly string[]).includes(second)) return { floor: "stage", stage: second };
  return null;
}

export interface Violation {
  file: string;
  imports: string;
  rule: string;
}

/** Relative specifiers of a TypeScript source: static imports, re-exports and `import()` calls. */
export function relativeImports(source: string): string[] {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((entry) => entry.fileName)
    .filter((name) => name.startsWith("./") || name.startsWith("../"));
}

/** Every import in `files` (path → source) that crosses a floor it may not. Pure. */
export function findViolations(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, source] of files) {
    const from = placeOf(file);
    if (!from) continue;
    for (const specifier of relativeImports(source)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
      const to = placeOf(target);
      if (!to) continue;
      const allowed =
        MAY_IMPORT[from.floor].includes(to.floor) &&
        !(from.floor === "stage" && to.floor === "stage" && from.stage !== to.stage);
      if (!allowed) {
        const name = (place: Place) => (place.stage ? `stage ${place.stage}` : place.floor);
        violations.push({ file, imports: target, rule: `${name(from)} → ${name(to)}` });
      }
    }
  }
  return violations;
}

/** The TypeScript sources of cli/, services/ and stack/ under `root`, by repository path. */
export function readTree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const relative = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && entry.name !== "dist") walk(relative);
      } else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")) {
        files.set(relative, readFileSync(path.join(root, relative), "utf8"));
      }
    }
  };
  for (const top of ["cli", "services", "stack"]) walk(top);
  return files;
}
