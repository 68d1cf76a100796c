/**
 * `agent daemon`'s node metrics as a process: the collectors read the trees HOST_PROC,
 * HOST_SYS and HOST_ROOT name (here the captured host of lib/node/testdata), the `node.*`
 * options reach them, a problem is logged once however often /metrics is scraped, and the
 * whole /metrics passes promtool.
 */
import { assertEquals, withTempDir } from "./support/assert.ts";
import { haveCommand } from "./support/cores.ts";
import { startDaemon } from "./support/daemon.ts";
import { waitFor } from "./support/net.ts";
import { promtoolCheck } from "./support/promtool.ts";
import { parsePrometheusText } from "../lib/prom/mod.ts";

const FIXTURE = new URL("../lib/node/testdata/host/", import.meta.url).pathname;

Deno.test("the daemon serves the node collectors over HOST_PROC, HOST_SYS, HOST_ROOT with node.*", () =>
  withTempDir(async (dir) => {
    const daemon = await startDaemon({
      dir,
      config: "node: {topProcesses: 1, cpuFlags: [avx2, hypervisor, sve]}\nkata: {enabled: false}",
      env: { HOST_PROC: `${FIXTURE}proc`, HOST_SYS: `${FIXTURE}sys`, HOST_ROOT: FIXTURE },
    });
    try {
      const scrape = async () => await (await fetch(`${daemon.base}/metrics`)).text();
      // /healthz answers before the features start: the node's families come a little later.
      let text = "";
      await waitFor(async () => (text = await scrape()).includes("node_cpu_flag_info"), "node_*");
      const families = parsePrometheusText(text);
      const labels = (name: string, label: string) =>
        families.find((f) => f.name === name)?.samples.map((s) => s.labels[label]);
      assertEquals(labels("node_cpu_flag_info", "flag"), ["hypervisor", "avx2"]);
      // One process by CPU (milvus), one more by memory (etcd).
      assertEquals(labels("agent_process_cpu_seconds_total", "comm"), ["milvus", "etcd"]);
      assertEquals(labels("node_disk_info", "device"), ["vda"]);
      // The fixture's second mount point is not a directory of the tree: a device error.
      assertEquals(
        families.find((f) => f.name === "node_filesystem_device_error")?.samples.map((s) => [
          s.labels.mountpoint,
          s.value,
        ]),
        [["/", 0], ["/mnt/sandboxing/model_tools_env/v1/python", 1]],
      );
      if (haveCommand("promtool")) assertEquals((await promtoolCheck(text)).defects, []);
      // A second collection (the feature collects at most once a second): its durations differ.
      await waitFor(async () => (await scrape()) !== text, "a second collection");
      const log = await daemon.stop();
      // Each problem once, though two collections met it (here also the gpu collector's: no
      // nvidia-smi on this host's PATH).
      const problems = log.split("\n").filter((line) => line.includes("node collector problem"))
        .map((line) => JSON.parse(line).source as string);
      assertEquals(problems.length, new Set(problems).size, log);
      assertEquals(
        problems.filter((source) => source.endsWith("/mnt/sandboxing/model_tools_env/v1/python"))
          .length,
        1,
        log,
      );
    } finally {
      await daemon.stop().catch(() => {});
    }
  }));
