import { assertEquals } from "../../tests/support/assert.ts";
import { withTempDir } from "../../tests/support/assert.ts";
import { goToolchains } from "../../tests/support/cores.ts";
import { mayBeGo } from "./_go_elf.ts";

Deno.test("mayBeGo() is false for an ELF executable without Go's sections", async () => {
  // Deno itself: a large Rust executable.
  assertEquals(await mayBeGo(Deno.execPath()), false);
});

Deno.test("mayBeGo() is true whenever it cannot tell", async () => {
  await withTempDir(async (dir) => {
    assertEquals(await mayBeGo(`${dir}/missing`), true);
    await Deno.writeTextFile(`${dir}/text`, "#!/bin/sh\n");
    assertEquals(await mayBeGo(`${dir}/text`), true);
    // An ELF header with no section table (sstrip'd).
    const bytes = new Uint8Array(64);
    using deno = await Deno.open(Deno.execPath());
    await deno.read(bytes);
    new DataView(bytes.buffer).setBigUint64(40, 0n, true);
    await Deno.writeFile(`${dir}/nosections`, bytes);
    assertEquals(await mayBeGo(`${dir}/nosections`), true);
  });
});

Deno.test({
  name: "mayBeGo() is true for a Go executable",
  ignore: goToolchains().length === 0,
  fn: async () => {
    for (const { go } of goToolchains()) {
      // The toolchain's own `go` is a Go program.
      const path = go.includes("/") ? go : await which(go);
      assertEquals(await mayBeGo(path), true, path);
    }
  },
});

async function which(name: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", `command -v ${name}`] }).output();
  return new TextDecoder().decode(out.stdout).trim();
}
