/**
 * main.ts imports the command line by specifiers Deno does not read ahead (`later()`), so
 * whatever caches or compiles the agent must name those modules: `LATER_MODULES`, which the
 * install and image scripts use, and the `--include` flags of every `deno compile`.
 */
import { assert, assertEquals } from "./support/assert.ts";
import { LATER_MODULES } from "../main.ts";

const ROOT = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));

Deno.test("LATER_MODULES names every module main.ts imports with later()", () => {
  const named = [...read("main.ts").matchAll(/later<[^>]*>\("([^"]+)"\)/g)].map((m) => m[1]!);
  assert(named.length > 0, "no later() import found in main.ts");
  // Reached through cli/mod.ts: its npm package, and the configuration cli/_context.ts imports.
  const through = ["@commander-js/extra-typings", "./lib/config/mod.ts"];
  assertEquals(
    [...new Set(named.filter((s) => !through.includes(s)).map((s) => s.replace(/^\.\//, "")))]
      .sort(),
    [...LATER_MODULES].sort(),
  );
});

Deno.test("every deno compile includes LATER_MODULES", () => {
  const includes = LATER_MODULES.map((m) => `--include ${m}`);
  for (const file of ["deno.json", "Dockerfile", ".github/workflows/release.yml"]) {
    const text = read(file);
    // The commands, not the comments that name them.
    const compiles = text.split(/deno compile(?= -)/).slice(1);
    assert(compiles.length > 0, `${file}: no deno compile`);
    for (const command of compiles) {
      const words = command.split(/main\.ts/)[0]!.replace(/\\\n\s*/g, " ");
      for (const include of includes) assert(words.includes(include), `${file}: ${include}`);
    }
  }
});
