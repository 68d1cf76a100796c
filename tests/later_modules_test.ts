/**
 * main.ts and the commands import modules by specifiers Deno does not read ahead (`later()`),
 * so whatever caches or compiles the agent must be given them: `cli/_later_modules.ts` names
 * each as a literal import, `LATER_MODULES` (used by the install and image scripts) names that
 * file, and so does the `--include` of every `deno compile`.
 */
import { assert, assertEquals } from "./support/assert.ts";
import { LATER_MODULES } from "../main.ts";

const ROOT = new URL("../", import.meta.url);
const read = (url: URL) => Deno.readTextFileSync(url);

/** A specifier as written in `base`, resolved (bare ones, npm packages, as they are). */
function resolved(specifier: string, base: URL): string {
  return specifier.startsWith(".") ? new URL(specifier, base).href : specifier;
}

Deno.test("cli/_later_modules.ts names every module imported with later()", () => {
  const wanted = new Set<string>();
  const sources = [new URL("main.ts", ROOT)];
  for (const entry of Deno.readDirSync(new URL("cli/", ROOT))) {
    if (entry.name.endsWith(".ts")) sources.push(new URL(`cli/${entry.name}`, ROOT));
  }
  for (const source of sources) {
    for (const [, specifier] of read(source).matchAll(/later<[^>]*>\(\s*"([^"]+)"/g)) {
      wanted.add(resolved(specifier!, source));
    }
  }
  assert(wanted.size > 10, `only ${wanted.size} later() imports found`);
  const list = new URL("cli/_later_modules.ts", ROOT);
  const named = new Set(
    [...read(list).matchAll(/import\("([^"]+)"\)/g)].map(([, s]) => resolved(s!, list)),
  );
  assertEquals([...wanted].filter((s) => !named.has(s)), []);
  assertEquals(LATER_MODULES, ["cli/_later_modules.ts"]);
});

Deno.test("every deno compile includes LATER_MODULES", () => {
  const includes = LATER_MODULES.map((m) => `--include ${m}`);
  for (const file of ["deno.json", "Dockerfile", ".github/workflows/release.yml"]) {
    const text = read(new URL(file, ROOT));
    // The commands, not the comments that name them.
    const compiles = text.split(/deno compile(?= -)/).slice(1);
    assert(compiles.length > 0, `${file}: no deno compile`);
    for (const command of compiles) {
      const words = command.split(/main\.ts/)[0]!.replace(/\\\n\s*/g, " ");
      for (const include of includes) assert(words.includes(include), `${file}: ${include}`);
    }
  }
});

/** Every worker script a source starts with `new Worker(new URL("…", import.meta.url)…)`. */
function workerScripts(): string[] {
  const found: string[] = [];
  const walk = (dir: URL) => {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isDirectory && entry.name !== "testdata") walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
        const file = new URL(entry.name, dir);
        const pattern = /new Worker\(\s*new URL\(\s*"([^"]+)",\s*import\.meta\.url\)/g;
        for (const [, specifier] of read(file).matchAll(pattern)) {
          found.push(new URL(specifier!, file).href.slice(ROOT.href.length));
        }
      }
    }
  };
  for (const folder of ["lib/", "daemon/", "cli/"]) walk(new URL(folder, ROOT));
  return found;
}

Deno.test("every deno compile includes the workers' scripts", () => {
  const workers = workerScripts();
  assert(workers.length > 0, "no worker found");
  for (const file of ["deno.json", "Dockerfile", ".github/workflows/release.yml"]) {
    const compiles = read(new URL(file, ROOT)).split(/deno compile(?= -)/).slice(1);
    for (const command of compiles) {
      const words = command.split(/main\.ts/)[0]!.replace(/\\\n\s*/g, " ");
      for (const worker of workers) {
        assert(words.includes(`--include ${worker}`), `${file}: --include ${worker}`);
      }
    }
  }
});
