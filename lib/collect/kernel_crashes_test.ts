import { assertEquals } from "../../tests/support/assert.ts";
import { type KernelCrash, KernelCrashes } from "./kernel_crashes.ts";

const T = new Date("2026-11-22T01:00:00Z").getTime();
const WINDOW = 5 * 60_000;

function crash(pid: number, comm: string, secondsBefore: number, podUid?: string): KernelCrash {
  return {
    time: new Date(T - secondsBefore * 1000),
    pid,
    comm,
    what: "segfault",
    ...(podUid ? { cgroup: { podUid } } : {}),
    line: `${comm}[${pid}]: segfault at 0`,
  };
}

Deno.test("KernelCrashes.find() matches by pid, else by name within the window", () => {
  const crashes = new KernelCrashes();
  crashes.record(crash(7, "querynode", 600, "old"));
  crashes.record(crash(31337, "querynode", 30, "a"));
  crashes.record(crash(31338, "querynode", 2, "a"));
  const at = new Date(T);
  assertEquals(crashes.find({ pid: 31337, comm: "querynode", time: at }, WINDOW)?.by, "pid");
  assertEquals(crashes.find({ pid: 31337, comm: "querynode", time: at }, WINDOW)?.crash.pid, 31337);
  // A container's own pid (1) is not the host's: the name and the time decide, the closest.
  const byName = crashes.find({ pid: 1, comm: "querynode", time: at }, WINDOW);
  assertEquals([byName?.by, byName?.crash.pid], ["comm", 31338]);
  // Outside the window, or another program: nothing.
  assertEquals(
    crashes.find({ comm: "querynode", time: new Date(T + 3600_000) }, WINDOW),
    undefined,
  );
  assertEquals(crashes.find({ comm: "datanode", time: at }, WINDOW), undefined);
  // The kernel cuts comm at 15 bytes; the core's name may be whole.
  crashes.record(crash(40, "milvus-querynod", 1, "a"));
  assertEquals(crashes.find({ comm: "milvus-querynode", time: at }, WINDOW)?.crash.pid, 40);
});

Deno.test("KernelCrashes.find() gives up when the same program crashed in two pods", () => {
  const crashes = new KernelCrashes();
  crashes.record(crash(100, "datanode", 10, "a"));
  crashes.record(crash(200, "datanode", 5, "b"));
  assertEquals(crashes.find({ comm: "datanode", time: new Date(T) }, WINDOW), undefined);
});

Deno.test("KernelCrashes.find() passes over crashes whose pod is unknown", () => {
  const crashes = new KernelCrashes();
  crashes.record(crash(100, "datanode", 10));
  crashes.record(crash(200, "datanode", 5, "b"));
  assertEquals(crashes.find({ comm: "datanode", time: new Date(T) }, WINDOW)?.crash.pid, 200);
  assertEquals(crashes.find({ pid: 100, comm: "datanode", time: new Date(T) }, WINDOW)?.by, "comm");
});

Deno.test("KernelCrashes keeps the last max crashes", () => {
  const crashes = new KernelCrashes(2);
  for (const pid of [1, 2, 3]) crashes.record(crash(pid, "x", 0));
  assertEquals(crashes.recent().map((c) => c.pid), [2, 3]);
});
