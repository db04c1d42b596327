import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { RDS_CA_BUNDLE_PATH } from "../../stack/database.ts";
import { stackPlan } from "../../stack/plan.ts";
import { devConfig, ROOT } from "./harness.ts";

// The Dockerfiles cannot be built here (no Docker engine); these checks hold them to the rules
// the stack relies on: multi-stage, pinned base, non-root, the entry points the task
// definitions run, the RDS CA bundle the database URL names, and the worker's baked model.

const dockerfile = (name: string) => readFileSync(path.join(ROOT, "docker", `${name}.Dockerfile`), "utf8");
const finalStage = (text: string) => text.slice(text.lastIndexOf("\nFROM "));

describe("stack: Dockerfiles", () => {
  for (const name of ["app", "worker"]) {
    it(`${name}: is multi-stage on a base pinned by exact version, and runs as a non-root user`, () => {
      const text = dockerfile(name);
      assert.ok((text.match(/^FROM /gm) ?? []).length >= 3, "several stages");
      assert.match(text, /^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/m);
      assert.doesNotMatch(text, /:latest\b/);
      const users = [...finalStage(text).matchAll(/^USER (\S+)$/gm)].map((m) => m[1]);
      assert.ok(users.length > 0 && users.at(-1) !== "root", "the final stage switches to a non-root user");
    });

    it(`${name}: trusts the RDS CA bundle at the path the database URL names`, () => {
      const final = finalStage(dockerfile(name));
      assert.ok(final.includes(` ${RDS_CA_BUNDLE_PATH}\n`), "bundle downloaded to the path");
      assert.ok(final.includes(`ENV NODE_EXTRA_CA_CERTS=${RDS_CA_BUNDLE_PATH}`));
    });
  }

  it("builds every entry point the task definitions run, in the image they run from", () => {
    const plan = stackPlan(devConfig());
    for (const container of [...plan.services, ...plan.tasks]) {
      const script = container.command[1]!;
      const text = dockerfile(container.image);
      if (script.startsWith("dist/services/")) {
        const source = script.replace(/^dist\//, "").replace(/\.js$/, ".ts");
        assert.ok(text.includes(source), `${container.image} image bundles ${source} for ${container.name}`);
      } else {
        assert.equal(script, "cli/bin/opsctl.js");
        assert.match(text, /npm run build/);
        assert.match(text, /COPY --chown=root:root cli\/bin \.\/cli\/bin/);
      }
      assert.match(text, /COPY --chown=root:root sql \.\/sql/, "migrations ship with the code");
    }
  });

  it("bakes FinBERT q8 into the worker at build time and checks it offline in the final image", () => {
    const text = dockerfile("worker");
    assert.match(text, /RUN node docker\/finbert\.mjs fetch \/opt\/models/);
    assert.match(finalStage(text), /RUN --network=none node docker\/finbert\.mjs check \/opt\/models/);
    assert.match(finalStage(text), /COPY --from=model --chown=root:root \/opt\/models \/opt\/models/);
    const script = readFileSync(path.join(ROOT, "docker/finbert.mjs"), "utf8");
    assert.match(script, /const MODEL = "Xenova\/finbert";/);
    assert.match(script, /const DTYPE = "q8";/);
  });

  it("installs pg_dump 17 in the app image, at least the server's major", () => {
    assert.match(dockerfile("app"), /postgresql-client-17/);
    assert.match(dockerfile("app"), /pg_dump --version \| grep -q ' 17\\\.'/);
  });
});
