import fc from "fast-check";
import { assertEquals } from "../../tests/support/assert.ts";
import { fileIdentity, readElfIdentity } from "./build_id.ts";

Deno.test("fileIdentity() reads libc's soname, and nothing from a file that is not ELF", async () => {
  const libc = await Deno.realPath("/lib/x86_64-linux-gnu/libc.so.6").catch(() => undefined);
  if (libc) assertEquals((await fileIdentity(libc)).soname, "libc.so.6");
  assertEquals(await fileIdentity("/etc/hostname").catch(() => ({})), {});
});

Deno.test("readElfIdentity() never throws, whatever the bytes", async () => {
  const header = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (tail) => {
      const bytes = new Uint8Array(header.length + tail.length);
      bytes.set(header);
      bytes.set(tail, header.length);
      const identity = await readElfIdentity((offset, length) =>
        Promise.resolve(bytes.subarray(offset, offset + length))
      );
      return typeof identity === "object";
    }),
    { numRuns: 500 },
  );
});
