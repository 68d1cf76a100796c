import { assertEquals } from "../tests/support/assert.ts";
import { runCommand, text } from "./run.ts";

Deno.test("runCommand() runs with an argv and stdin, and reports the exit code", async () => {
  const cat = await runCommand("cat", { args: ["-"], stdin: "hello" });
  assertEquals([cat.code, text(cat.stdout), cat.timedOut], [0, "hello", false]);
  const failing = await runCommand("sh", { args: ["-c", "echo no >&2; exit 3"] });
  assertEquals([failing.code, text(failing.stderr)], [3, "no\n"]);
});

Deno.test("runCommand() kills a program at its timeout", async () => {
  const slow = await runCommand("sleep", { args: ["30"], timeoutMs: 100 });
  assertEquals([slow.code, slow.timedOut], [-1, true]);
});
