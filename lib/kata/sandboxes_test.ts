import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { createLogger } from "../log.ts";
import {
  isValidSandboxId,
  runtimeOfRoot,
  SandboxDirectory,
  type SandboxEvent,
} from "./sandboxes.ts";

const log = createLogger({ level: "error", format: "text", write: () => {} });
const HEX = "6a2e22e6fffaf1dec63ddabf587ed56069b1809ba67a0d7872fc470528364e66";

/** Waits until `check` holds, polling; fails after `ms` (long: the suite runs under load). */
async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs a directory over `roots` for the duration of `fn`. */
async function withDirectory(
  roots: string[],
  rescanMs: number,
  fn: (directory: SandboxDirectory, events: SandboxEvent[]) => Promise<void>,
): Promise<void> {
  const directory = new SandboxDirectory({ roots, rescanMs, log, now: () => 1234 });
  const events: SandboxEvent[] = [];
  directory.subscribe((event) => events.push(event));
  const controller = new AbortController();
  const running = directory.run(controller.signal);
  try {
    await directory.scanned;
    await fn(directory, events);
  } finally {
    controller.abort();
    await running;
  }
}

Deno.test("isValidSandboxId() accepts container ids and refuses paths", () => {
  for (const id of [HEX, "a", "pod-1", "sandbox_2.b", "A".repeat(128)]) {
    assert(isValidSandboxId(id), id);
  }
  for (
    const id of [
      "",
      ".",
      "..",
      "../etc",
      "a/b",
      "/abs",
      ".hidden",
      "-flag",
      "_x",
      "a b",
      "a\u0000b",
      "a\nb",
      "é",
      "A".repeat(129),
    ]
  ) {
    assert(!isValidSandboxId(id), JSON.stringify(id));
  }
});

Deno.test("runtimeOfRoot() knows the Go and Rust roots, else goes by position", () => {
  assertEquals(runtimeOfRoot("/run/vc/sbs", 1), "go");
  assertEquals(runtimeOfRoot("/host/run/vc/sbs/", 1), "go");
  assertEquals(runtimeOfRoot("/run/kata", 0), "rust");
  assertEquals(runtimeOfRoot("/tmp/x/first", 0), "go");
  assertEquals(runtimeOfRoot("/tmp/x/second", 1), "rust");
});

Deno.test("SandboxDirectory finds sandboxes under both roots and prefers the first", async () => {
  await withTempDir(async (dir) => {
    const go = `${dir}/vc/sbs`;
    const rust = `${dir}/kata`;
    await Deno.mkdir(`${go}/${HEX}`, { recursive: true });
    await Deno.mkdir(`${go}/both`, { recursive: true });
    await Deno.mkdir(`${rust}/rs-1`, { recursive: true });
    await Deno.mkdir(`${rust}/both`, { recursive: true });
    await withDirectory([go, rust], 60_000, async (directory, events) => {
      assertEquals(directory.list(), [
        {
          id: HEX,
          root: go,
          socket: `${go}/${HEX}/shim-monitor.sock`,
          runtime: "go",
          firstSeen: 1234,
        },
        {
          id: "both",
          root: go,
          socket: `${go}/both/shim-monitor.sock`,
          runtime: "go",
          firstSeen: 1234,
        },
        {
          id: "rs-1",
          root: rust,
          socket: `${rust}/rs-1/shim-monitor.sock`,
          runtime: "rust",
          firstSeen: 1234,
        },
      ]);
      assertEquals(events.map((e) => `${e.type} ${e.sandbox.id}`).sort(), [
        `added ${HEX}`,
        "added both",
        "added rs-1",
      ]);
      assertEquals(directory.get("rs-1")?.runtime, "rust");
      assertEquals(directory.get("nope"), undefined);

      // The Go entry goes: the Rust one takes over.
      events.length = 0;
      await Deno.remove(`${go}/both`);
      await until(() => directory.get("both")?.root === rust);
      assertEquals(events.map((e) => `${e.type} ${e.sandbox.root === go ? "go" : "rust"}`), [
        "removed go",
        "added rust",
      ]);
    });
  });
});

Deno.test("SandboxDirectory sees sandboxes come and go through watch events", async () => {
  await withTempDir(async (dir) => {
    await withDirectory([dir], 60_000, async (directory, events) => {
      assertEquals(directory.list(), []);
      await Deno.mkdir(`${dir}/${HEX}`);
      // The rescan is a minute away: only the watch can find it this fast.
      await until(() => directory.get(HEX) !== undefined);
      await Deno.remove(`${dir}/${HEX}`);
      await until(() => directory.size === 0);
      assertEquals(events.map((e) => e.type), ["added", "removed"]);
      assert(directory.stats.events > 0);
    });
  });
});

Deno.test("SandboxDirectory picks up a root created late, and one removed and made again", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/run/vc/sbs`;
    await withDirectory([root, `${dir}/run/kata`], 50, async (directory) => {
      assertEquals(directory.size, 0);
      await Deno.mkdir(`${root}/late`, { recursive: true });
      await until(() => directory.get("late") !== undefined);

      await Deno.remove(root, { recursive: true });
      await until(() => directory.size === 0);
      await Deno.mkdir(`${root}/again`, { recursive: true });
      await until(() => directory.get("again") !== undefined);
      // The new incarnation of the root is watched, not only listed.
      const events = directory.stats.events;
      await Deno.mkdir(`${root}/third`);
      await until(() => directory.get("third") !== undefined && directory.stats.events > events);
    });
  });
});

Deno.test("SandboxDirectory ignores hostile and irrelevant entries", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/sbs`;
    for (const name of [".hidden", "-rf", "with space", "x".repeat(129), "line\nbreak", "ok-1"]) {
      await Deno.mkdir(`${root}/${name}`, { recursive: true });
    }
    await Deno.writeTextFile(`${root}/a-file`, "");
    await Deno.mkdir(`${dir}/outside`);
    await Deno.symlink(`${dir}/outside`, `${root}/link`);
    await withDirectory([root], 60_000, (directory) => {
      assertEquals(directory.list().map((s) => s.id), ["ok-1"]);
      return Promise.resolve();
    });
  });
});

Deno.test("SandboxDirectory keeps a root's sandboxes when it cannot list it", async () => {
  await withTempDir(async (dir) => {
    const root = `${dir}/root`;
    await Deno.mkdir(`${root}/kept`, { recursive: true });
    const lines: string[] = [];
    const directory = new SandboxDirectory({
      roots: [root],
      log: createLogger({ level: "warn", format: "text", write: (l) => lines.push(l) }),
    });
    await directory.scan();
    // Not a directory any more: an error other than "not found" (root reads any mode).
    await Deno.remove(root, { recursive: true });
    await Deno.writeTextFile(root, "");
    await directory.scan();
    assertEquals(directory.list().map((s) => s.id), ["kept"]);
    assert(lines.some((l) => l.includes("cannot list a Kata sandbox root")));
    await Deno.remove(root);
    await directory.scan();
    assertEquals(directory.list(), []);
  });
});
