import { assertEquals } from "../tests/support/assert.ts";
import { UnavailableError } from "./errors.ts";
import {
  installProcessHandlers,
  keepRunning,
  makeTempDir,
  removeTempDir,
  sweepTempDirs,
} from "./lifecycle.ts";

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

Deno.test("makeTempDir() names the directory it cannot use and why, in one line", async () => {
  const parent = await Deno.makeTempDir();
  try {
    const made = await makeTempDir("core", parent);
    assertEquals(made.startsWith(`${parent}/agent-core-${Deno.pid}-`), true);
    await removeTempDir(made);
    const missing = `${parent}/gone`;
    const error = await makeTempDir("core", missing).catch((e) => e);
    assertEquals(error instanceof UnavailableError, true);
    assertEquals(
      (error as Error).message,
      `Cannot make a temporary directory in "${missing}" (analyzer.tempDir): no such file or directory`,
    );
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
