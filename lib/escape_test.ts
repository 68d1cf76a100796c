import { assertEquals } from "../tests/support/assert.ts";
import { escapeControl, escapeJsonControl } from "./escape.ts";

Deno.test("escapeControl() escapes C0, DEL, C1 and bidirectional controls", () => {
  assertEquals(
    escapeControl("/tmp/\x1b[2Jx\nfake line\r\t\x00\x7f\u009b\u202e\u2028"),
    "/tmp/\\x1b[2Jx\\nfake line\\r\\t\\x00\\x7f\\x9b\\u202e\\u2028",
  );
});

Deno.test("escapeControl() leaves printable text alone", () => {
  for (const text of ["", "libc.so.6", 'C:\\x "quoted" ünïcødé 漢字 🙂', "a b=c"]) {
    assertEquals(escapeControl(text), text);
  }
});

Deno.test("escapeJsonControl() keeps the value and leaves no raw control", () => {
  const value = { path: "a\x1b[2J\nb\x7f\u0085\u009b\u202e" };
  const json = escapeJsonControl(JSON.stringify(value));
  assertEquals(escapeControl(json), json, "no control character left");
  assertEquals(JSON.parse(json), value);
  const indented = escapeJsonControl(JSON.stringify(value, null, 2));
  assertEquals(JSON.parse(indented), value);
  assertEquals(indented.split("\n").length, 3);
});
