import { createLogger } from "../log.ts";
import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { haveCommand, skipNotice } from "../../tests/support/cores.ts";
import { CoreWatcher, looksLikeCore } from "./watch.ts";

const PATTERNS = ["core.%e.%p.%s.%t.%h", "core.%h.%e.%p", "core.%p", "core"];
const noFuser = skipNotice("fuser (psmisc)", haveCommand("fuser"));

function watcher(paths: string[], handed: { path: string; size: number }[], done = () => false) {
  return new CoreWatcher({
    paths,
    patterns: PATTERNS,
    settleMs: 300,
    rescanMs: 200,
    log: createLogger({ level: "error", format: "text", write: () => {} }),
    isDone: done,
    onComplete: async (path) => {
      handed.push({ path, size: (await Deno.stat(path)).size });
    },
  });
}

async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("looksLikeCore() accepts core names and refuses hidden and unrelated files", () => {
  for (
    const name of ["core", "core.1234", "core.milvus.1.11.1763773323.q-0", "app.core", "core-q.zst"]
  ) {
    assert(looksLikeCore(name, PATTERNS), name);
  }
  for (const name of [".#core.milvus.1", ".core.gz.node~0123abcd.part", "score.txt", "README"]) {
    assert(!looksLikeCore(name, PATTERNS), name);
  }
});

Deno.test("CoreWatcher hands over a core only once its writer has stopped, exactly once", () =>
  withTempDir(async (dir) => {
    const handed: { path: string; size: number }[] = [];
    const w = watcher([`${dir}/cores`], handed);
    const stop = new AbortController();
    const running = w.run(stop.signal);
    try {
      // The directory appears after the watcher started.
      await new Promise((r) => setTimeout(r, 250));
      await Deno.mkdir(`${dir}/cores`);
      const file = await Deno.open(`${dir}/cores/core.4242`, { write: true, create: true });
      for (let i = 0; i < 10; i++) {
        await file.write(new Uint8Array(64 * 1024).fill(i));
        await new Promise((r) => setTimeout(r, 100));
        assertEquals(handed, [], `handed over while being written (chunk ${i})`);
      }
      file.close();
      await Deno.writeTextFile(`${dir}/cores/.#core.tmp`, "systemd's temporary");
      await Deno.writeTextFile(`${dir}/cores/notes.txt`, "not a core");
      await Deno.symlink("/etc/passwd", `${dir}/cores/core.1`);
      await until(() => handed.length > 0);
      await new Promise((r) => setTimeout(r, 800));
      assertEquals(handed, [{ path: `${dir}/cores/core.4242`, size: 640 * 1024 }]);
    } finally {
      stop.abort();
      await running;
    }
  }));

Deno.test({
  name: "CoreWatcher waits while a process holds the core open",
  ignore: noFuser,
  fn: () =>
    withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/core.77`, "complete but held open");
      const holder = new Deno.Command("bash", {
        args: ["-c", 'exec 3<"$0"; sleep 1.5', `${dir}/core.77`],
      }).spawn();
      const handed: { path: string; size: number }[] = [];
      const w = watcher([dir], handed);
      const stop = new AbortController();
      const running = w.run(stop.signal);
      try {
        await new Promise((r) => setTimeout(r, 1000));
        assertEquals(handed, []);
        await holder.status;
        await until(() => handed.length === 1);
      } finally {
        stop.abort();
        await running;
      }
    }),
});

Deno.test("CoreWatcher leaves alone what the index says is finished", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/core.1`, "done already");
    await Deno.writeTextFile(`${dir}/core.2`, "new");
    const handed: { path: string; size: number }[] = [];
    const w = watcher([dir], handed, () => false);
    w.options.isDone = (path) => path.endsWith("core.1");
    const stop = new AbortController();
    const running = w.run(stop.signal);
    try {
      await until(() => handed.length === 1);
      await new Promise((r) => setTimeout(r, 600));
      assertEquals(handed.map((h) => h.path), [`${dir}/core.2`]);
    } finally {
      stop.abort();
      await running;
    }
  }));
