/**
 * `agent daemon`'s node collectors end to end: the gpu collector finds the stand-in
 * `nvidia-smi` on the daemon's PATH (replaying an A100 node), the kmsg collector reads this
 * host's `/dev/kmsg` when it may (root) and says once why not otherwise, and the whole
 * `/metrics` stays clean for promtool but for the peers' own names.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { startDaemon } from "./support/daemon.ts";
import { waitFor } from "./support/net.ts";
import { promtoolCheck } from "./support/promtool.ts";

const noPromtool = skipNotice("promtool", haveCommand("promtool"));
const BIN = new URL("./support/bin", import.meta.url).pathname;
const A100 = new URL("../lib/node/testdata/nvidia-smi/a100", import.meta.url).pathname;

function kmsgReadable(): boolean {
  try {
    Deno.openSync("/dev/kmsg", { read: true }).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("the daemon serves GPU, kernel log and container families beside node_exporter's", () =>
  withTempDir(async (dir) => {
    const daemon = await startDaemon({
      dir,
      config: "kata: {enabled: false}\nnode: {interval: 200ms}",
      env: { PATH: `${BIN}:${Deno.env.get("PATH") ?? ""}`, NVIDIA_SMI_FIXTURE: A100 },
    });
    try {
      let metrics = "";
      await waitFor(async () => {
        metrics = await (await fetch(`${daemon.base}/metrics`)).text();
        return metrics.includes("DCGM_FI_DEV_GPU_TEMP{");
      }, "the GPU families");
      assertMatch(
        metrics,
        /^DCGM_FI_DEV_GPU_TEMP\{gpu="0",UUID="GPU-5a1c7a9e-3f2b-7c4d-9e8f-0a1b2c3d4e5f",pci_bus_id="00000000:07:00\.0",device="nvidia0",modelName="NVIDIA A100-SXM4-40GB",DCGM_FI_DRIVER_VERSION="535\.104\.05"\} 33$/m,
      );
      assertMatch(metrics, /^node_scrape_collector_success\{collector="gpu"\} 1$/m);
      assertMatch(metrics, /^node_scrape_collector_success\{collector="cgroups"\} 1$/m);
      if (kmsgReadable()) {
        assertMatch(metrics, /^node_scrape_collector_success\{collector="kmsg"\} 1$/m);
        assertMatch(metrics, /^node_kernel_oom_kills_total\{constraint="memcg"\} \d+$/m);
      } else {
        assertMatch(metrics, /^node_scrape_collector_success\{collector="kmsg"\} 0$/m);
      }
      if (!noPromtool) {
        const checked = await promtoolCheck(metrics);
        assertEquals(checked.defects, []);
        assert(checked.dcgmLints.length > 0, "dcgm-exporter's names lint, and are accepted");
      }
    } finally {
      const log = await daemon.stop();
      const lines = log.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      // Each problem once, however many scrapes.
      const problems = lines.filter((l) => l.msg === "node collector problem").map((l) =>
        `${l.source}: ${l.reason}`
      );
      assertEquals(problems.length, new Set(problems).size, problems.join("\n"));
    }
  }));
