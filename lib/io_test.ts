import { assertEquals, assertRejects } from "../tests/support/assert.ts";
import { readCapped, TooLarge, writeAll } from "./io.ts";

const chunks = () => ReadableStream.from([new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6])]);

Deno.test("readCapped() keeps what fits and says whether there was more", async () => {
  assertEquals(await readCapped(chunks(), 10), {
    bytes: new Uint8Array([1, 2, 3, 4, 5, 6]),
    truncated: false,
  });
  assertEquals(await readCapped(chunks(), 4), {
    bytes: new Uint8Array([1, 2, 3, 4]),
    truncated: true,
  });
  assertEquals((await readCapped(chunks(), 4, { over: "drain" })).bytes.length, 4);
  await assertRejects(() => readCapped(chunks(), 4, { over: "fail" }), TooLarge);
});

Deno.test("writeAll() writes what a writer takes in parts", async () => {
  const seen: number[] = [];
  await writeAll({
    write: (p) => {
      seen.push(p[0]!);
      return Promise.resolve(1);
    },
  }, new Uint8Array([7, 8, 9]));
  assertEquals(seen, [7, 8, 9]);
});
