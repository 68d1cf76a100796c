import { assertEquals } from "../tests/support/assert.ts";
import { installUncaughtHandler, keepRunningOnUncaught } from "./uncaught.ts";

Deno.test("installUncaughtHandler() ends the command unless the daemon keeps running", () => {
  const fatal: unknown[] = [];
  const kept: unknown[] = [];
  const uninstall = installUncaughtHandler((error) => fatal.push(error));
  try {
    const first = new Error("first");
    const event = new ErrorEvent("error", { error: first, cancelable: true });
    globalThis.dispatchEvent(event);
    assertEquals([fatal, event.defaultPrevented], [[first], true]);
    const release = keepRunningOnUncaught((error) => kept.push(error));
    const second = new Error("second");
    globalThis.dispatchEvent(new ErrorEvent("error", { error: second, cancelable: true }));
    release();
    assertEquals([fatal.length, kept], [1, [second]]);
  } finally {
    uninstall();
  }
});
