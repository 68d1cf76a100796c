import fc from "fast-check";
import { assertEquals } from "../../tests/support/assert.ts";
import { StateReader, StateWriter } from "./_codec.ts";
import { SortedWindow } from "./_window.ts";

Deno.test("SortedWindow quantiles are those of its last values, sorted", () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), {
        minLength: 1,
        maxLength: 80,
      }),
      fc.integer({ min: 1, max: 20 }),
      (values, size) => {
        const window = new SortedWindow(size);
        for (const v of values) window.push(v);
        const last = values.slice(-size).sort((a, b) => a - b);
        assertEquals(window.length, last.length);
        assertEquals(window.quantile(0), last[0]);
        assertEquals(window.quantile(1), last.at(-1));
        const copy = new SortedWindow(size);
        const writer = new StateWriter();
        window.save(writer);
        copy.load(new StateReader(writer.bytes()));
        copy.push(1);
        window.push(1);
        assertEquals(copy.median(), window.median());
      },
    ),
  );
});
