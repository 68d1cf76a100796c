/**
 * The kernel log reader on this host's real `/dev/kmsg` (root): a program that segfaults is
 * seen as a live crash with its pid and name, and counted. The kernel rate-limits its
 * segfault lines (`printk_ratelimit`, 10 per 5 s across the host, and other tests crash
 * programs too), so the program is crashed again until its line shows up.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { compile, haveGcc, skipNotice } from "./support/cores.ts";
import { type KernelEvent, KernelLog } from "../lib/node/mod.ts";

function kmsgReadable(): boolean {
  try {
    Deno.openSync("/dev/kmsg", { read: true }).close();
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}

const skip = skipNotice("root, gcc and a readable /dev/kmsg", haveGcc() && kmsgReadable());

Deno.test({
  name: "KernelLog sees a real segfault on this host's /dev/kmsg",
  ignore: skip,
  fn: () =>
    withTempDir(async (dir) => {
      const built = await compile("segv", dir);
      // A name of its own (comm is at most 15 bytes), to find its line among the others'.
      const name = `kmsg${crypto.randomUUID().slice(0, 8)}`;
      const exe = `${dir}/${name}`;
      await Deno.rename(built, exe);
      const kernel = new KernelLog({ path: "/dev/kmsg", proc: "/proc", intervalMs: 50 });
      const seen: KernelEvent[] = [];
      kernel.events.subscribe((event) => {
        if (event.comm === name) seen.push(event);
      });
      const controller = new AbortController();
      const running = kernel.run(controller.signal);
      try {
        const pids: number[] = [];
        const deadline = Date.now() + 60_000;
        while (seen.length === 0) {
          assert(Date.now() < deadline, `no segfault line of ${name} within 60 s`);
          const child = new Deno.Command("bash", {
            args: ["-c", 'ulimit -c 0 && exec "$0"', exe],
            stdout: "null",
            stderr: "null",
          }).spawn();
          pids.push(child.pid);
          assertEquals((await child.status).signal, "SIGSEGV");
          const until = Date.now() + 5000;
          while (seen.length === 0 && Date.now() < until) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        const event = seen[0]!;
        assert(event.kind === "crash" && event.what === "segfault", event.kind);
        assert(pids.includes(event.pid), `pid ${event.pid} is none of ${pids}`);
        assertEquals(event.live, true);
        assert(Math.abs(event.time.getTime() - Date.now()) < 120_000, String(event.time));
        assert(kernel.stats().segfaults >= 1);
        assertEquals(kernel.unavailable(), undefined);
      } finally {
        controller.abort();
        await running;
      }
    }),
});
