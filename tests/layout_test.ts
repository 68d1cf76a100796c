/**
 * The project's layout rules, checked on the source tree so that they stay true:
 * `lib/` never reaches `cli/` or `daemon/`; a folder of `lib/` is entered only through its
 * `mod.ts`; no module imports itself back through others; `main.ts` alone calls `Deno.exit`;
 * no source file grows past 700 lines; the daemon's sources hold only Latin-1 characters.
 */
import { assertEquals } from "./support/assert.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The production sources (tests, benchmarks and scripts may reach inside). */
function sources(): string[] {
  const out: string[] = ["main.ts"];
  const visit = (dir: string) => {
    for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) visit(path);
      else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) out.push(path);
    }
  };
  for (const dir of ["lib", "cli", "daemon"]) visit(dir);
  return out.sort();
}

/** Relative imports (static, re-exports and dynamic) of a source, resolved from the root. */
function importsOf(path: string): string[] {
  const text = Deno.readTextFileSync(`${ROOT}${path}`);
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/g),
    ...text.matchAll(/\bimport\(\s*"(\.[^"]+)"\s*\)/g),
  ].map((m) => m[1]!);
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  return specs.map((spec) => new URL(spec, `file:///${dir}/`).pathname.slice(1));
}

function folderOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

Deno.test("lib/ never imports cli/ or daemon/", () => {
  const bad = sources().filter((s) => s.startsWith("lib/")).flatMap((s) =>
    importsOf(s).filter((t) => t.startsWith("cli/") || t.startsWith("daemon/")).map((t) =>
      `${s} -> ${t}`
    )
  );
  assertEquals(bad, []);
});

Deno.test("a folder of lib/ is imported from elsewhere only through its mod.ts", () => {
  const bad: string[] = [];
  for (const source of sources()) {
    for (const target of importsOf(source)) {
      const folder = folderOf(target);
      // Top-level modules of lib/ (errors.ts, log.ts…) are entered directly.
      if (!target.startsWith("lib/") || folder === "lib" || folder === folderOf(source)) continue;
      if (!target.endsWith("/mod.ts")) bad.push(`${source} -> ${target}`);
    }
  }
  assertEquals(bad, []);
});

Deno.test("no module imports itself back through others", () => {
  const graph = new Map(sources().map((s) => [s, importsOf(s)]));
  const cycles: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (node: string, trail: string[]) => {
    if (state.get(node) === "done") return;
    if (state.get(node) === "visiting") {
      cycles.push([...trail.slice(trail.indexOf(node)), node].join(" -> "));
      return;
    }
    state.set(node, "visiting");
    for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
    state.set(node, "done");
  };
  for (const node of graph.keys()) visit(node, []);
  assertEquals(cycles, []);
});

Deno.test("main.ts alone calls Deno.exit", () => {
  const callers = sources().filter((s) => s !== "main.ts").filter((s) =>
    /\bDeno\.exit\(/.test(Deno.readTextFileSync(`${ROOT}${s}`).replace(/^\s*\*.*$/gm, ""))
  );
  assertEquals(callers, []);
});

Deno.test("no source file is over 700 lines", () => {
  const long: string[] = [];
  const visit = (dir: string) => {
    for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory) {
        if (![".git", "node_modules", "programs", ".cores"].includes(entry.name)) visit(path);
      } else if (path.endsWith(".ts")) {
        const lines = Deno.readTextFileSync(`${ROOT}${path}`).split("\n").length - 1;
        if (lines > 700) long.push(`${path}: ${lines} lines`);
      }
    }
  };
  visit("");
  assertEquals(long, []);
});

// V8 keeps every loaded module's transpiled text, with Deno's inline source map, for the life
// of the process, and stores all of it at two bytes per character as soon as one character
// is beyond Latin-1 (U+00FF): one `…` in a comment doubles the file's 3-6 bytes of heap per
// byte of source. Code writes such characters as escapes (`\u2026`), HTML as entities.
Deno.test("lib/ and daemon/ sources hold only Latin-1 characters", () => {
  const wide = sources()
    .filter((s) => s.startsWith("lib/") || s.startsWith("daemon/"))
    .filter((s) => /[\u0100-\uffff]/.test(Deno.readTextFileSync(`${ROOT}${s}`)));
  assertEquals(wide, []);
});
