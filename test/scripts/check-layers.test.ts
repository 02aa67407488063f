import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
// @ts-expect-error: a plain ESM script, without type declarations
import { checkLayers } from "../../scripts/check-layers.mjs";

type Result = { problems: string[]; checked: number };

test("the source tree keeps to its layers (npm test runs the same check first)", async () => {
  const { problems } = (await checkLayers()) as Result;
  assert.equal(problems, []);
});

test("the layer check names each import that breaks a rule", async () => {
  const root = await mkdtemp(path.join(tmpdir(), "catopt-layers-"));
  const files: Record<string, string> = {
    "src/core/wire.ts": `import { fold } from "../families/qp/fold.ts";\n`,
    "src/families/qp/fold.ts": `import type { Wire } from "../../core/wire.ts";\nimport { steps } from "../../replay/replay.ts";\n`,
    "src/families/lp/fold.ts": `import { fold } from "../qp/fold.ts";\n`,
    "src/families/registry.ts": `import { fold } from "./qp/fold.ts";\n`,
    "src/bus/read.ts": `import { apply } from "../replay/replay.ts";\n`,
    "src/replay/replay.ts": `import { FAMILIES } from "../families/registry.ts";\nimport { fold } from "../families/qp/fold.ts";\n`,
    "src/cli/run.ts": `import { FAMILIES } from "../families/registry.ts";\n`,
    "src/run/load.ts": `const name = "qp";\nconst family = await import(\`../families/\${name}/fold.ts\`);\nconst other = require("../families/qp/fold.ts");\nconst glued = await import("./" + "../families/qp/fold.ts");\nregistry.import(name);\n`,
  };
  try {
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await writeFile(path.join(root, file), text);
    }
    const { problems } = (await checkLayers(path.join(root, "src"))) as Result;
    assert.equal(problems.sort(), [
      "src/bus/read.ts:1: imports ../replay/replay.ts (replay): bus may not import replay",
      "src/core/wire.ts:1: imports ../families/qp/fold.ts (family qp): the engine reaches a family only through src/families/registry.ts",
      "src/families/lp/fold.ts:1: imports ../qp/fold.ts (family qp): a family never imports another",
      "src/families/qp/fold.ts:2: imports ../../replay/replay.ts (replay): family may not import replay",
      "src/replay/replay.ts:2: imports ../families/qp/fold.ts (family qp): the engine reaches a family only through src/families/registry.ts",
      "src/run/load.ts:2: an import or require() whose path is computed: the layer check cannot follow it (write the path out)",
      "src/run/load.ts:3: imports ../families/qp/fold.ts (family qp): the engine reaches a family only through src/families/registry.ts",
      "src/run/load.ts:4: an import or require() whose path is computed: the layer check cannot follow it (write the path out)",
    ]);
  } finally {
    await rm(root, { recursive: true });
  }
});

test.run();
