import { assertEquals } from "../tests/support/assert.ts";
import { installProcessHandlers, keepRunning, sweepTempDirs } from "./lifecycle.ts";

Deno.test("installProcessHandlers() ends the command unless the daemon keeps running", () => {
  const fatal: unknown[] = [];
  const kept: unknown[] = [];
  const uninstall = installProcessHandlers({
    onFatal: (error) => fatal.push(error),
    onSignal: () => {},
  });
  try {
    const first = new Error("first");
    const event = new ErrorEvent("error", { error: first, cancelable: true });
    globalThis.dispatchEvent(event);
    assertEquals([fatal, event.defaultPrevented], [[first], true]);
    const release = keepRunning((error) => kept.push(error));
    const second = new Error("second");
    globalThis.dispatchEvent(new ErrorEvent("error", { error: second, cancelable: true }));
    release();
    assertEquals([fatal.length, kept], [1, [second]]);
  } finally {
    uninstall();
  }
});

Deno.test("sweepTempDirs() removes what gone processes left and nothing else", async () => {
  const parent = await Deno.makeTempDir();
  try {
    for (const name of ["agent-core-7-a", "agent-gdb-8-b", `agent-core-${Deno.pid}-c`, "other-7"]) {
      await Deno.mkdir(`${parent}/${name}`);
    }
    await Deno.writeTextFile(`${parent}/agent-core-7-file`, "not a directory");
    const removed = await sweepTempDirs(parent, (pid) => Promise.resolve(pid === 7));
    assertEquals(removed, 1);
    assertEquals(
      [...Deno.readDirSync(parent)].map((e) => e.name).sort(),
      ["agent-core-7-file", `agent-core-${Deno.pid}-c`, "agent-gdb-8-b", "other-7"].sort(),
    );
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
