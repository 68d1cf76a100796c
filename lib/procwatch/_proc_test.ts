import { assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { readHead } from "./_proc.ts";

Deno.test("readHead() reads past its first buffer up to the cap, and no further", async () => {
  await withTempDir(async (dir) => {
    // 100 KiB of varied lines: longer than the first buffer, shorter than the default cap
    // of the TCP tables.
    const text = Array.from({ length: 2048 }, (_, i) => `${String(i).padStart(49, "0")}\n`)
      .join("");
    await Deno.writeTextFile(`${dir}/table`, text);
    assertEquals(await readHead(`${dir}/table`, 1 << 22), text);
    assertEquals(await readHead(`${dir}/table`, 70_000), text.slice(0, 70_000));
    assertEquals(await readHead(`${dir}/table`, 10), text.slice(0, 10));
    assertEquals(await readHead(`${dir}/missing`), undefined);
  });
});

Deno.test("readHead() reads a /proc file, whose size says nothing", async () => {
  const head = await readHead(`/proc/${Deno.pid}/net/tcp`, 1 << 22);
  assertEquals(head?.startsWith("  sl  local_address"), true);
});
