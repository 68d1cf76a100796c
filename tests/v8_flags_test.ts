/**
 * The agent's V8 flags are measured choices (bench/README.md, docs/deployment.md): every way
 * of running or compiling the agent passes the same ones as `deno task start`.
 */
import { assert, assertEquals } from "./support/assert.ts";

const ROOT = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));
const FLAGS = /--v8-flags=([\w=,.-]+)/g;

Deno.test("every run and compile of the agent passes deno task start's V8 flags", () => {
  const tasks: Record<string, string> = JSON.parse(read("deno.json")).tasks;
  const start = [...tasks.start!.matchAll(FLAGS)].map(([, flags]) => flags);
  assertEquals(start.length, 1);
  assert(start[0]!.split(",").includes("--no-concurrent-recompilation"));
  const sources: [string, string][] = [
    ["deno.json compile task", tasks.compile!],
    ...[
      "Dockerfile",
      ".github/workflows/release.yml",
      "scripts/install.ts",
      "scripts/build_image.ts",
    ]
      .map((path): [string, string] => [path, read(path)]),
  ];
  for (const [where, text] of sources) {
    const found = [...text.matchAll(FLAGS)].map(([, flags]) => flags);
    assert(found.length > 0, `${where}: no --v8-flags`);
    assertEquals(found, found.map(() => start[0]), where);
  }
});
