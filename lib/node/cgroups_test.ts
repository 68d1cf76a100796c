import { assert, assertEquals } from "../../tests/support/assert.ts";
import type { MetricFamily } from "../prom/mod.ts";
import { cgroupsCollector, findCgroups } from "./cgroups.ts";
import type { ContainerDirectory, ContainerIdentity, NodePaths } from "./collector.ts";
import { collectNode } from "./mod.ts";

const TESTDATA = new URL("./testdata/", import.meta.url).pathname;
const UID = "1b2c3d4e-0000-4000-8000-000000000001";
const APP = "3".repeat(64);
const PAUSE = "5".repeat(64);
const KATA = "7".repeat(64);

function pathsAt(root: string): NodePaths {
  return { proc: `${root}/proc`, sys: `${root}/sys`, dev: `${root}/dev`, rootfs: root };
}

/** A runtime that knows the app container and its sandbox, and a Kata sandbox. */
function directory(noticed: string[][] = []): ContainerDirectory {
  const sandbox = { pod: "web-0", namespace: "shop", podUid: UID, sandboxId: PAUSE };
  const known: Record<string, ContainerIdentity> = {
    [APP]: { ...sandbox, container: "web", image: "nginx:1.27", runtimeHandler: "" },
    [PAUSE]: { ...sandbox, container: "", image: "", runtimeHandler: "" },
    [KATA]: {
      container: "",
      pod: "vm-0",
      namespace: "shop",
      podUid: "2b2c3d4e-0000-4000-8000-000000000002",
      image: "",
      sandboxId: KATA,
      runtimeHandler: "kata",
    },
  };
  return {
    container: (id) => known[id],
    pod: (uid) =>
      uid === UID ? { name: "web-0", namespace: "shop", runtimeHandler: "" } : undefined,
    notice: (ids) => noticed.push([...ids]),
  };
}

function samples(families: MetricFamily[], name: string) {
  return families.find((f) => f.name === name)?.samples ?? [];
}

function value(families: MetricFamily[], name: string, labels: Record<string, string>) {
  const found = samples(families, name).filter((s) =>
    Object.entries(labels).every(([key, v]) => s.labels[key] === v)
  );
  assert(found.length <= 1, `${name}: ${found.length} samples match`);
  return found[0]?.value;
}

Deno.test("cgroupsCollector reads cgroup v2 (systemd driver) with cAdvisor's names and labels", async () => {
  const root = `${TESTDATA}cgroup-v2`;
  const noticed: string[][] = [];
  const { families, problems } = await collectNode([cgroupsCollector], pathsAt(root), {
    containers: directory(noticed),
    kataSandboxRoots: [`${root}/run/vc/sbs`],
  });
  assertEquals([...problems], []);
  const podPath = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${
    UID.replaceAll("-", "_")
  }.slice`;
  const app = { id: `${podPath}/cri-containerd-${APP}.scope` };
  assertEquals(
    samples(families, "container_cpu_usage_seconds_total").find((s) => s.labels.id === podPath)
      ?.labels,
    {
      container: "",
      cpu: "total",
      id: podPath,
      image: "",
      name: "",
      namespace: "shop",
      pod: "web-0",
    },
  );
  assertEquals(
    samples(families, "container_memory_usage_bytes").find((s) => s.labels.id === app.id)?.labels,
    {
      container: "web",
      id: app.id,
      image: "nginx:1.27",
      name: APP,
      namespace: "shop",
      pod: "web-0",
    },
  );
  assertEquals(value(families, "container_cpu_usage_seconds_total", app), 2.5);
  assertEquals(value(families, "container_cpu_user_seconds_total", app), 1.9);
  assertEquals(value(families, "container_cpu_system_seconds_total", app), 0.6);
  assertEquals(value(families, "container_cpu_cfs_periods_total", app), 120);
  assertEquals(value(families, "container_cpu_cfs_throttled_periods_total", app), 30);
  assertEquals(value(families, "container_cpu_cfs_throttled_seconds_total", app), 1.5);
  assertEquals(value(families, "container_memory_usage_bytes", app), 58720256);
  // usage − inactive_file, as cAdvisor.
  assertEquals(value(families, "container_memory_working_set_bytes", app), 58720256 - 4194304);
  assertEquals(value(families, "container_memory_rss", app), 50331648);
  assertEquals(value(families, "container_memory_cache", app), 8388608);
  assertEquals(value(families, "container_memory_mapped_file", app), 2097152);
  assertEquals(value(families, "container_memory_swap", app), 4096);
  assertEquals(value(families, "container_memory_max_usage_bytes", app), 58720256 + 1048576);
  assertEquals(value(families, "container_oom_events_total", app), 1);
  assertEquals(value(families, "container_memory_failcnt", app), undefined, "v1 only");
  assertEquals(
    value(families, "container_fs_reads_bytes_total", { ...app, device: "/dev/vda" }),
    1048576,
  );
  assertEquals(value(families, "container_fs_reads_total", { ...app, device: "/dev/vda" }), 12);
  // A device /sys/dev/block does not name keeps its numbers.
  assertEquals(value(families, "container_fs_writes_total", { ...app, device: "259:3" }), 2);
  assertEquals(value(families, "container_threads", app), 2);
  assertEquals(value(families, "container_threads_max", app), 4096);
  assertEquals(value(families, "container_processes", app), 1);
  assertEquals(value(families, "container_pressure_cpu_waiting_seconds_total", app), 0.12);
  assertEquals(value(families, "container_pressure_io_stalled_seconds_total", app), 0.02);
  // No quota: no throttling series, as cAdvisor.
  assertEquals(
    samples(families, "container_cpu_cfs_periods_total").map((s) => s.labels.name),
    [APP],
  );
  // The pause container is the pod's, container "" and name its sandbox id.
  const pause = samples(families, "container_threads").find((s) => s.labels.name === PAUSE);
  assertEquals([pause?.labels.container, pause?.labels.pod, pause?.value], ["", "web-0", 1]);
  assertEquals(value(families, "container_threads_max", { name: PAUSE }), 0, "max is 0");
  // The Kata sandbox's cgroup is left to lib/kata; its pod's stays; services are no pods.
  const ids = samples(families, "container_cpu_usage_seconds_total").map((s) => s.labels.id!);
  assertEquals(ids.filter((id) => id.includes(KATA)), []);
  assertEquals(ids.filter((id) => id.includes("besteffort-pod")).length, 1);
  assertEquals(ids.filter((id) => id.includes("system.slice")), []);
  assertEquals(noticed.map((ids) => ids.sort()), [[APP, PAUSE, KATA].sort()]);
});

Deno.test("cgroupsCollector keeps Kata's host cgroups when the daemon serves no Kata series", async () => {
  const root = `${TESTDATA}cgroup-v2`;
  const { families } = await collectNode([cgroupsCollector], pathsAt(root), {
    containers: directory(),
  });
  const names = samples(families, "container_cpu_usage_seconds_total").map((s) => s.labels.name);
  assert(names.includes(KATA), names.join(","));
});

Deno.test("cgroupsCollector reads cgroup v1 (cgroupfs driver) and pressure from the unified tree", async () => {
  const root = `${TESTDATA}cgroup-v1`;
  const { families, problems } = await collectNode([cgroupsCollector], pathsAt(root), {
    containers: directory(),
  });
  assertEquals([...problems], []);
  const app = { id: `/kubepods/burstable/pod${UID}/${APP}` };
  assertEquals(value(families, "container_cpu_usage_seconds_total", app), 2.5);
  // cpuacct.stat counts USER_HZ ticks.
  assertEquals(value(families, "container_cpu_user_seconds_total", app), 1.9);
  assertEquals(value(families, "container_cpu_system_seconds_total", app), 0.6);
  assertEquals(value(families, "container_cpu_cfs_throttled_seconds_total", app), 1.5);
  assertEquals(value(families, "container_memory_working_set_bytes", app), 58720256 - 4194304);
  assertEquals(value(families, "container_memory_rss", app), 50331648);
  assertEquals(value(families, "container_memory_swap", app), 0);
  assertEquals(value(families, "container_memory_failcnt", app), 2);
  assertEquals(value(families, "container_memory_max_usage_bytes", app), 60817408);
  assertEquals(value(families, "container_oom_events_total", app), 1);
  assertEquals(
    value(families, "container_fs_writes_bytes_total", { ...app, device: "/dev/vda" }),
    4096,
  );
  assertEquals(value(families, "container_fs_reads_total", { ...app, device: "/dev/vda" }), 12);
  assertEquals(value(families, "container_pressure_memory_stalled_seconds_total", app), 0.02);
  assertEquals(value(families, "container_threads", { ...app }), 2);
  assertEquals(value(families, "container_memory_usage_bytes", { name: PAUSE }), 294912);
  assertEquals(
    samples(families, "container_memory_usage_bytes").map((s) => [s.labels.container, s.labels.id]),
    [
      ["", `/kubepods/burstable/pod${UID}`],
      ["web", app.id],
      ["", `/kubepods/burstable/pod${UID}/${PAUSE}`],
    ],
  );
});

Deno.test("cgroupsCollector without the runtime's names: the series stay, the labels empty", async () => {
  const { families } = await collectNode([cgroupsCollector], pathsAt(`${TESTDATA}cgroup-v1`));
  const app = samples(families, "container_memory_rss").find((s) => s.labels.name === APP);
  assertEquals(app?.labels, {
    container: "",
    id: `/kubepods/burstable/pod${UID}/${APP}`,
    image: "",
    name: APP,
    namespace: "",
    pod: "",
  });
});

Deno.test("cgroupsCollector fails alone where there is no cgroup filesystem", async () => {
  const { families, problems } = await collectNode(
    [cgroupsCollector],
    pathsAt(`${TESTDATA}nowhere`),
  );
  assertEquals(samples(families, "node_scrape_collector_success")[0]?.value, 0);
  assertEquals(
    problems.get("collector cgroups"),
    `No cgroup filesystem at "${TESTDATA}nowhere/sys/fs/cgroup"`,
  );
});

Deno.test("findCgroups() stops at its bounds", async () => {
  const root = `${TESTDATA}cgroup-v2/sys/fs/cgroup`;
  const all = await findCgroups(root);
  assertEquals([all.found.length, all.truncated], [5, false]);
  const shallow = await findCgroups(root, { depth: 3, cgroups: 100 });
  assertEquals(shallow.found.map((f) => f.containerId ?? "pod"), ["pod", "pod"]);
  const few = await findCgroups(root, { depth: 8, cgroups: 3 });
  assertEquals(few.truncated, true);
});
