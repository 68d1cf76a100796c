/**
 * The cgroups collector against a real containerd (Debian's 1.6 with runc) on this host: for
 * a running container (a static program that holds 48 MiB and burns CPU under a half-CPU
 * quota), its `container_cpu_usage_seconds_total` and `container_memory_working_set_bytes`
 * agree with what CRI `ListContainerStats` reports, read just before and just after ours:
 *
 * - CPU time only grows, and both read the same kernel counter (`cpuacct.usage` on v1,
 *   `cpu.stat` usage_usec on v2), so ours lies between the two CRI values, give or take a
 *   microsecond (v2's resolution, and the float of seconds).
 * - The working set is a gauge. The program allocates once at its start and we wait until
 *   CRI shows that memory; after that it moves only by what the kernel charges in per-CPU
 *   batches (64 pages per CPU) and the odd page of the runtime's reads, so ours lies within
 *   1 MiB of the range of the two CRI values.
 *
 * The labels come from the same runtime through `ListContainers`, and a sandbox that Kata's
 * side reports (its id under a sandbox root) is left out with its containers.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { containerdSkipNotice, startContainerd, WORKLOAD_IMAGE } from "./support/containerd.ts";
import { waitFor } from "./support/net.ts";
import { promtoolCheck } from "./support/promtool.ts";
import { haveCommand } from "./support/cores.ts";
import { ContainerMetadataCache, CriClient } from "../lib/cri/mod.ts";
import { cgroupsCollector } from "../lib/node/cgroups.ts";
import { collectNode, type NodePaths } from "../lib/node/mod.ts";
import { type MetricFamily, serializePrometheusText } from "../lib/prom/mod.ts";

const skip = containerdSkipNotice();
const PATHS: NodePaths = { proc: "/proc", sys: "/sys", dev: "/dev", rootfs: "/" };
const MIB = 1 << 20;

function sampleOf(families: MetricFamily[], name: string, containerId: string) {
  const found =
    families.find((f) => f.name === name)?.samples.filter((s) => s.labels.name === containerId) ??
      [];
  assertEquals(found.length, 1, `${name} of ${containerId}`);
  return found[0]!;
}

Deno.test({
  name: "the cgroups collector agrees with CRI ListContainerStats on a real containerd",
  ignore: skip,
  async fn() {
    const containerd = await startContainerd();
    const client = new CriClient(containerd.socket);
    try {
      const uid = crypto.randomUUID();
      const sandbox = await containerd.runSandbox({ name: "work-0", namespace: "perf", uid });
      const id = await containerd.runContainer(sandbox, {
        name: "work",
        args: ["48"],
        cpuQuotaUs: 50_000,
        memoryLimitBytes: 256 * MIB,
      });
      await waitFor(
        async () => (await containerd.containerStats(id)).workingSetBytes >= 48 * MIB,
        "the workload's memory",
      );
      const cache = new ContainerMetadataCache({ client });
      await cache.refresh();
      const services = { containers: cache };

      const rounds: string[] = [];
      for (let round = 0; round < 3; round++) {
        const before = await containerd.containerStats(id);
        const { families } = await collectNode([cgroupsCollector], PATHS, services);
        const after = await containerd.containerStats(id);
        const cpu = sampleOf(families, "container_cpu_usage_seconds_total", id).value;
        const [low, high] = [
          Number(before.cpuNanoseconds) / 1e9,
          Number(after.cpuNanoseconds) / 1e9,
        ];
        assert(low <= high, `CRI's CPU time went back: ${low} > ${high}`);
        assert(cpu >= low - 1e-6 && cpu <= high + 1e-6, `cpu ${cpu} not within [${low}, ${high}]`);
        const memory = sampleOf(families, "container_memory_working_set_bytes", id).value;
        const [min, max] = [
          Math.min(before.workingSetBytes, after.workingSetBytes),
          Math.max(before.workingSetBytes, after.workingSetBytes),
        ];
        assert(
          memory >= min - MIB && memory <= max + MIB,
          `working set ${memory} not within 1 MiB of [${min}, ${max}]`,
        );
        rounds.push(
          `cpu ${low.toFixed(6)} ≤ ${cpu.toFixed(6)} ≤ ${high.toFixed(6)} s; ` +
            `working set ${memory} vs CRI ${min}…${max} bytes`,
        );
        if (round === 0) {
          const labels = sampleOf(families, "container_memory_working_set_bytes", id).labels;
          assertEquals(
            { ...labels, id: labels.id?.endsWith(`/${id}`) ? "…/<id>" : labels.id },
            {
              container: "work",
              id: "…/<id>",
              image: WORKLOAD_IMAGE,
              name: id,
              namespace: "perf",
              pod: "work-0",
            },
          );
          const pause = sampleOf(families, "container_threads", sandbox).labels;
          assertEquals([pause.container, pause.pod, pause.namespace], ["", "work-0", "perf"]);
          // A quota: throttling is counted.
          assert(sampleOf(families, "container_cpu_cfs_periods_total", id).value > 0);
          assert(sampleOf(families, "container_memory_rss", id).value >= 48 * MIB);
          assertEquals(sampleOf(families, "container_processes", id).value, 1);
          if (haveCommand("promtool")) {
            const checked = await promtoolCheck(serializePrometheusText(families));
            assertEquals(checked.defects, []);
          }
        }
      }
      // deno-lint-ignore no-console
      console.log(`cross-check with CRI ListContainerStats:\n  ${rounds.join("\n  ")}`);

      await withTempDir(async (kataRoot) => {
        await Deno.mkdir(`${kataRoot}/${sandbox}`);
        const { families } = await collectNode([cgroupsCollector], PATHS, {
          ...services,
          kataSandboxRoots: [kataRoot],
        });
        const names = families.find((f) => f.name === "container_cpu_usage_seconds_total")
          ?.samples.map((s) => s.labels.name) ?? [];
        assert(!names.includes(id) && !names.includes(sandbox), names.join(","));
      });
    } finally {
      await client.close();
      await containerd.close();
    }
  },
});
