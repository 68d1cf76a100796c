import { assertEquals } from "../tests/support/assert.ts";
import { wrap } from "./_help.ts";

Deno.test("wrap() fills paragraphs and joins the source's single line breaks", () => {
  assertEquals(
    wrap("one two three\nfour five\n\nsix seven", 14),
    "one two three\nfour five\n\nsix seven",
  );
  assertEquals(wrap("alpha beta\ngamma delta epsilon", 12), "alpha beta\ngamma delta\nepsilon");
});

Deno.test("wrap() leaves no short word alone on a paragraph's last line", () => {
  // Greedy filling would leave "fox" alone.
  assertEquals(wrap("the quick brown fox", 15), "the quick\nbrown fox");
  // A long last word is no orphan: moving a word down would only make the line before short.
  assertEquals(
    wrap("keep the stored cores under this size (storage.retention.maxBytes)", 40),
    "keep the stored cores under this size\n(storage.retention.maxBytes)",
  );
});

Deno.test("wrap() gives list items a hanging indent", () => {
  assertEquals(
    wrap("Items:\n- first item that wraps\n- second", 16),
    "Items:\n- first item\n  that wraps\n- second",
  );
});
