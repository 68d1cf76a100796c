import { assertEquals, withTempDir } from "../../tests/support/assert.ts";
import type { Pattern } from "./patterns.ts";
import { ProcessWatch } from "./watch.ts";

/** A process in a `/proc` made of files. */
async function process(proc: string, pid: number, comm: string, start: number, cgroup = "0::/\n") {
  await Deno.mkdir(`${proc}/${pid}`, { recursive: true });
  await Deno.writeTextFile(
    `${proc}/${pid}/stat`,
    `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 ${start} 0 0`,
  );
  await Deno.writeTextFile(`${proc}/${pid}/status`, `Name:\t${comm}\nUid:\t0\t0\t0\t0\n`);
  await Deno.writeTextFile(`${proc}/${pid}/cmdline`, `${comm}\0`);
  await Deno.writeTextFile(`${proc}/${pid}/cgroup`, cgroup);
}

const MINER: Pattern = { name: "miner", kind: "process", comm: "^xmrig$", description: "" };

function counts(watch: ProcessWatch): Record<string, number> {
  const findings = watch.families().find((f) => f.name === "agent_process_findings_total")!;
  return Object.fromEntries(
    findings.samples.map((s) => [`${s.labels.namespace}/${s.labels.pod}`, s.value]),
  );
}

Deno.test("ProcessWatch reports a process once, and again when its pid is reused", async () => {
  await withTempDir(async (proc) => {
    await process(proc, 100, "xmrig", 5000);
    const watch = new ProcessWatch({ proc, patterns: [MINER], warn: () => {} });
    assertEquals((await watch.scan()).map((r) => r.process.pid), [100]);
    assertEquals(await watch.scan(), []);
    // The same pid, a later start: another process.
    await process(proc, 100, "xmrig", 9000);
    assertEquals((await watch.scan()).map((r) => r.process.start), [9000]);
    assertEquals(counts(watch), { "/": 2 });
    const scans = watch.families().find((f) => f.name === "agent_process_scans_total")!;
    assertEquals(scans.samples[0]!.value, 3);
  });
});

Deno.test("ProcessWatch names the pod, and bounds the label sets of its counter", async () => {
  await withTempDir(async (proc) => {
    const uid = (n: number) => `1b2c3d4e-0000-4000-8000-00000000000${n}`;
    for (let n = 1; n <= 3; n++) {
      await process(proc, 200 + n, "xmrig", 1, `0::/kubepods/pod${uid(n)}/${"a".repeat(64)}\n`);
    }
    const watch = new ProcessWatch({
      proc,
      patterns: [MINER],
      warn: () => {},
      maxLabelSets: 2,
      pods: {
        lookup: (podUid, container) =>
          Promise.resolve({
            namespace: "web",
            pod: `shop-${podUid.at(-1)}`,
            container: container!,
          }),
      },
    });
    const reports = await watch.scan();
    assertEquals(reports.map((r) => r.pod?.pod).sort(), ["shop-1", "shop-2", "shop-3"]);
    assertEquals(reports[0]!.pod!.container, "a".repeat(64));
    // Two pods' label sets at most: the third pod's finding is counted without its pod.
    const byPod = counts(watch);
    assertEquals(Object.values(byPod).reduce((a, b) => a + b), 3);
    assertEquals(Object.keys(byPod).filter((k) => k.startsWith("web/")).length, 2);
    assertEquals(byPod["/"], 1);
  });
});
