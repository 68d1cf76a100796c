import { assertEquals } from "../../tests/support/assert.ts";
import { withTempDir } from "../../tests/support/assert.ts";
import { makeView, needsView, type ResolvedModule } from "./symbols.ts";

function module(path: string, file: string | undefined, symbols: ResolvedModule["symbols"]) {
  return { path, buildId: null, host: "missing" as const, symbols, ...(file ? { file } : {}) };
}

Deno.test("makeView() links each module at its path and by name, never outside the view", () =>
  withTempDir(async (dir) => {
    const library = `${dir}/libservice.so`;
    await Deno.writeTextFile(library, "not an ELF file, still linked by its base name");
    const view = await makeView(`${dir}/view`, [
      module("/app/libservice.so", library, "bundle"),
      module("/../../escape", library, "bundle"),
      module("/app/gone.so", undefined, null),
    ]);
    assertEquals(await Deno.realPath(`${view.sysroot}/app/libservice.so`), library);
    assertEquals(await Deno.realPath(`${view.searchPath}/libservice.so`), library);
    assertEquals(await Deno.lstat(`${dir}/escape`).then(() => true, () => false), false);
    assertEquals(
      await Deno.lstat(`${view.sysroot}/app/gone.so`).then(() => true, () => false),
      false,
    );
  }));

Deno.test("needsView() only when a bundle serves a module or a host file is left out", () => {
  assertEquals(needsView([{ ...module("/a", "/a", "host"), host: "same" }]), false);
  assertEquals(needsView([module("/a", undefined, null)]), false);
  assertEquals(needsView([{ ...module("/a", undefined, null), host: "different" }]), true);
  assertEquals(needsView([module("/a", "/b", "bundle")]), true);
});
