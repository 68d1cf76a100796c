import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import {
  createProcessesCollector,
  parseProcStat,
  type ProcStat,
  topProcesses,
} from "./processes.ts";
import { parseKubepodsCgroup } from "./_kubepods.ts";
import { HOST, pathsAt, samples, value, withHost } from "./_testing.ts";
import { pageSize } from "./_read.ts";

const C1 = "3f9c2a7e5b1d4c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60";

Deno.test("processes collector counts states and threads as node_exporter does", async () => {
  const { families, problems } = await collectNode([createProcessesCollector()], pathsAt(HOST));
  assertEquals(value(families, "node_processes_pids"), 6);
  assertEquals(
    samples(families, "node_processes_state").map((s) => [s.labels.state, s.value]),
    [["S", 5], ["Z", 1]],
  );
  // 13 threads of PID 1, 1 of kthreadd, 5 of node_exporter, 1 + 3 + 1 of the pods'.
  assertEquals(value(families, "node_processes_threads"), 24);
  assertEquals(
    samples(families, "node_processes_threads_state").map((s) => [s.labels.thread_state, s.value]),
    [["S", 21], ["R", 1], ["D", 1], ["Z", 1]],
  );
  assertEquals(value(families, "node_processes_max_processes"), 32768);
  assertEquals([...problems], []);
});

Deno.test("processes collector names the top processes' pods from cgroups and the kubelet's logs", async () => {
  const { families } = await collectNode([createProcessesCollector()], pathsAt(HOST), {
    topProcesses: 2,
  });
  const cpu = samples(families, "agent_process_cpu_seconds_total");
  // Two by CPU (milvus, then PID 1), two more by memory (etcd, node_exporter).
  assertEquals(cpu.map((s) => s.labels.pid), ["4001", "1", "4002", "3056"]);
  assertEquals(cpu[0]!.labels, {
    pid: "4001",
    comm: "milvus",
    namespace: "milvus",
    pod: "milvus-querynode-0",
    container: "querynode",
    pod_uid: "1c1bd4d1-0f6e-4b4b-9d5d-9a5b0e3f1a11",
    container_id: C1,
  });
  assertEquals(cpu[0]!.value, (52000 + 8000) / 100);
  // A pod the kubelet's directories do not name: its UID and container ID only.
  assertEquals(cpu[2]!.labels.pod, "");
  assertEquals(cpu[2]!.labels.pod_uid, "6b0f2a3e-7c1d-4e5f-8a9b-0c1d2e3f4a5b");
  assertEquals(
    value(families, "agent_process_resident_memory_bytes", { pid: "4001" }),
    262144 * pageSize(),
  );
  const none = await collectNode([createProcessesCollector()], pathsAt(HOST), { topProcesses: 0 });
  assertEquals(samples(none.families, "agent_process_cpu_seconds_total"), []);
});

Deno.test("processes collector ranks by the CPU used since its previous collection", () =>
  withHost(async (root) => {
    const collector = createProcessesCollector();
    await collectNode([collector], pathsAt(root), { topProcesses: 1 });
    // kthreadd spins: 500 ticks more than before, where milvus stays.
    const stat = await Deno.readTextFile(`${root}proc/2/stat`);
    const fields = stat.split(" ");
    fields[13] = String(Number(fields[13]) + 500);
    await Deno.writeTextFile(`${root}proc/2/stat`, fields.join(" "));
    // A process that is listed but gone before its stat is read is skipped quietly.
    await Deno.mkdir(`${root}proc/5000`);
    const { families, problems } = await collectNode([collector], pathsAt(root), {
      topProcesses: 1,
    });
    assertEquals(
      samples(families, "agent_process_cpu_seconds_total").map((s) => s.labels.comm),
      ["kthreadd", "milvus"],
    );
    assertEquals(value(families, "node_processes_pids"), 6);
    assertEquals([...problems], []);
  }));

Deno.test("topProcesses() counts a reused PID from its start, and breaks ties by PID", () => {
  const p = (pid: number, ticks: number, start: number, rss = 0): ProcStat => ({
    pid,
    comm: `p${pid}`,
    state: "S",
    ticks,
    threads: 1,
    start,
    rss,
  });
  const previous = new Map([[10, { start: 1, ticks: 900 }], [11, { start: 1, ticks: 0 }]]);
  // PID 10 used 100 since; PID 11 is a new process (start 7) with 300 in all.
  const now = [p(10, 1000, 1), p(11, 300, 7), p(12, 50, 2, 9), p(13, 50, 2, 9)];
  assertEquals(topProcesses(now, previous, 2).map((x) => x.pid), [11, 10, 12, 13]);
});

Deno.test("parseProcStat() reads a name with spaces and parentheses", () => {
  assertEquals(
    parseProcStat(
      "42 (a) (b c)) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 2 0 99 1000 5 18446744073709551615",
    ),
    { pid: 42, comm: "a) (b c)", state: "R", ticks: 10, threads: 2, start: 99, rss: 5 },
  );
  assertEquals(parseProcStat("42 (short) R 1"), undefined);
});

Deno.test("parseKubepodsCgroup() reads the cgroupfs and systemd drivers' paths", () => {
  const id = "a".repeat(64);
  const uid = "1c1bd4d1-0f6e-4b4b-9d5d-9a5b0e3f1a11";
  const cases: [string, string | undefined, string][] = [
    [`4:memory:/kubepods/burstable/pod${uid}/${id}`, uid, id],
    [`0::/kubepods/pod${uid}/${id}`, uid, id],
    [
      `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${
        uid.replaceAll("-", "_")
      }.slice/cri-containerd-${id}.scope`,
      uid,
      id,
    ],
    [
      `0::/kubepods.slice/kubepods-pod${uid.replaceAll("-", "_")}.slice/crio-${id}.scope`,
      uid,
      id,
    ],
    [
      `0::/../../kubepods-burstable-pod${uid.replaceAll("-", "_")}.slice/docker-${id}.scope`,
      uid,
      id,
    ],
    // A static pod's UID is its config hash; the pod's own cgroup has no container.
    [
      "0::/kubepods/besteffort/pod0123456789abcdef0123456789abcdef",
      "0123456789abcdef0123456789abcdef",
      "",
    ],
    ["0::/system.slice/containerd.service", undefined, ""],
    ["0::/kubepods/besteffort", undefined, ""],
  ];
  for (const [text, podUid, containerId] of cases) {
    const ref = parseKubepodsCgroup(`1:name=systemd:/\n${text}\n`);
    assertEquals(ref, podUid === undefined ? undefined : { podUid, containerId }, text);
  }
});
