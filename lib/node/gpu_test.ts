import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { haveCommand, skipNotice } from "../../tests/support/cores.ts";
import { promtoolCheck } from "../../tests/support/promtool.ts";
import { type MetricFamily, serializePrometheusText } from "../prom/mod.ts";
import { runCommand, type Runner } from "../run.ts";
import type { CollectServices, ContainerDirectory } from "./collector.ts";
import { gpuCollector } from "./gpu.ts";
import { collectNode } from "./mod.ts";

const noPromtool = skipNotice("promtool", haveCommand("promtool"));

/** The stand-in `nvidia-smi` and the outputs it replays, one directory per machine. */
const BIN = new URL("../../tests/support/bin", import.meta.url).pathname;
const FIXTURES = new URL("./testdata/nvidia-smi/", import.meta.url).pathname;

/** Runs programs with the stand-in first on PATH, replaying `fixture`; counts the runs. */
function standIn(fixture: string, runs: string[][] = []): Runner {
  return (command, options) => {
    runs.push(options.args);
    return runCommand(command, {
      ...options,
      env: {
        ...options.env,
        PATH: `${BIN}:${Deno.env.get("PATH") ?? ""}`,
        NVIDIA_SMI_FIXTURE: `${FIXTURES}${fixture}`,
      },
    });
  };
}

function value(families: MetricFamily[], name: string, labels: Record<string, string> = {}) {
  const found =
    families.find((f) => f.name === name)?.samples.filter((s) =>
      Object.entries(labels).every(([key, v]) => s.labels[key] === v)
    ) ?? [];
  assert(found.length <= 1, `${name}: ${found.length} samples`);
  return found[0]?.value;
}

const A100_0 = "GPU-5a1c7a9e-3f2b-7c4d-9e8f-0a1b2c3d4e5f";
const POD_UID = "6f1c1a1e-9a0b-4c3d-8e2f-0123456789ab";
const CONTAINER = "4a5b0e1c7d8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829";

const directory: ContainerDirectory = {
  container: (id) =>
    id === CONTAINER
      ? {
        container: "trainer",
        pod: "train-0",
        namespace: "ml",
        podUid: POD_UID,
        image: "pytorch:2.4",
        sandboxId: "s",
        runtimeHandler: "",
      }
      : undefined,
  pod: () => undefined,
  notice() {},
};

async function collect(root: string, fixture: string, services: CollectServices = {}) {
  const paths = { proc: `${root}/proc`, sys: `${root}/sys`, dev: `${root}/dev`, rootfs: root };
  return await collectNode([gpuCollector], paths, { run: standIn(fixture), ...services });
}

Deno.test("gpuCollector reads an A100 node with dcgm-exporter's names, and each process's pod", () =>
  withTempDir(async (root) => {
    // The process on GPU 0 runs in a pod's container; the one on GPU 1 in none.
    await Deno.mkdir(`${root}/proc/4242`, { recursive: true });
    await Deno.writeTextFile(
      `${root}/proc/4242/cgroup`,
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${
        POD_UID.replaceAll("-", "_")
      }.slice/cri-containerd-${CONTAINER}.scope\n`,
    );
    const { families, problems } = await collect(root, "a100", { containers: directory });
    assertEquals([...problems], []);
    const gpu0 = { gpu: "0" };
    assertEquals(families.find((f) => f.name === "DCGM_FI_DEV_GPU_TEMP")?.samples[0]?.labels, {
      gpu: "0",
      UUID: A100_0,
      pci_bus_id: "00000000:07:00.0",
      device: "nvidia0",
      modelName: "NVIDIA A100-SXM4-40GB",
      DCGM_FI_DRIVER_VERSION: "535.104.05",
    });
    assertEquals(value(families, "DCGM_FI_DEV_GPU_TEMP", gpu0), 33);
    assertEquals(value(families, "DCGM_FI_DEV_MEMORY_TEMP", gpu0), 41);
    assertEquals(value(families, "DCGM_FI_DEV_POWER_USAGE", gpu0), 62.45);
    assertEquals(value(families, "DCGM_FI_DEV_GPU_UTIL", gpu0), 100);
    assertEquals(value(families, "DCGM_FI_DEV_MEM_COPY_UTIL", gpu0), 37);
    assertEquals(value(families, "DCGM_FI_DEV_FB_USED", gpu0), 4051);
    assertEquals(value(families, "DCGM_FI_DEV_FB_FREE", gpu0), 36297);
    assertEquals(value(families, "DCGM_FI_DEV_FB_RESERVED", gpu0), 612);
    assertEquals(value(families, "DCGM_FI_DEV_SM_CLOCK", { gpu: "1" }), 210);
    assertEquals(value(families, "DCGM_FI_DEV_MEM_CLOCK", gpu0), 1215);
    assertEquals(value(families, "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", gpu0), 3);
    assertEquals(value(families, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", gpu0), 0);
    assertEquals(value(families, "DCGM_FI_DEV_ROW_REMAP_FAILURE", gpu0), 0);
    // Ampere remaps rows instead of retiring pages: [N/A], left out.
    assertEquals(value(families, "DCGM_FI_DEV_RETIRED_SBE", gpu0), undefined);
    assertEquals(
      families.find((f) => f.name === "node_gpu_process_memory_used_bytes")?.samples.map((s) => [
        s.labels,
        s.value,
      ]),
      [
        [
          {
            gpu: "0",
            UUID: A100_0,
            pid: "4242",
            namespace: "ml",
            pod: "train-0",
            container: "trainer",
          },
          3900 * 1024 * 1024,
        ],
        [
          {
            gpu: "1",
            UUID: "GPU-6b2d8bae-402c-8d5e-af90-1b2c3d4e5f60",
            pid: "5151",
            namespace: "",
            pod: "",
            container: "",
          },
          812 * 1024 * 1024,
        ],
      ],
    );
    if (!noPromtool) {
      const checked = await promtoolCheck(serializePrometheusText(families));
      assertEquals(checked.defects, []);
    }
  }));

Deno.test("gpuCollector drops the fields an older driver refuses, once, and says so once", () =>
  withTempDir(async (root) => {
    const runs: string[][] = [];
    const run = standIn("t4", runs);
    const first = await collect(root, "t4", { run });
    assertEquals([...first.problems.keys()].sort(), [
      "nvidia-smi field memory.reserved",
      "nvidia-smi field remapped_rows.correctable",
      "nvidia-smi field remapped_rows.failure",
      "nvidia-smi field remapped_rows.uncorrectable",
      "nvidia-smi field utilization.decoder",
      "nvidia-smi field utilization.encoder",
    ]);
    assertEquals(value(first.families, "DCGM_FI_DEV_FB_TOTAL"), 15109);
    assertEquals(value(first.families, "DCGM_FI_DEV_RETIRED_SBE"), 1);
    assertEquals(value(first.families, "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL"), 12);
    assertEquals(value(first.families, "DCGM_FI_DEV_MEMORY_TEMP"), undefined, "[N/A]");
    runs.length = 0;
    const second = await collect(root, "t4", { run });
    assertEquals([...second.problems], []);
    assertEquals(runs.length, 2, "one --query-gpu with the fields it knows, one for the apps");
    assertEquals(value(second.families, "DCGM_FI_DEV_GPU_UTIL"), 37);
  }));

Deno.test("gpuCollector leaves out what a consumer card does not report", () =>
  withTempDir(async (root) => {
    const { families, problems } = await collect(root, "geforce");
    assertEquals([...problems], []);
    assertEquals(value(families, "DCGM_FI_DEV_GPU_TEMP"), 52);
    assertEquals(value(families, "DCGM_FI_DEV_FB_USED"), 812);
    for (
      const missing of [
        "DCGM_FI_DEV_POWER_USAGE",
        "DCGM_FI_DEV_ENC_UTIL",
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        "node_gpu_process_memory_used_bytes",
      ]
    ) {
      assertEquals(families.some((f) => f.name === missing), false, missing);
    }
  }));

Deno.test("gpuCollector reports a GPU fallen off the bus once, and reads the others", () =>
  withTempDir(async (root) => {
    const { families, problems } = await collect(root, "lost");
    assertEquals([...problems], [[
      "GPU 0000:3B:00.0",
      "GPU is lost.  Reboot the system to recover this GPU",
    ]]);
    assertEquals(value(families, "node_gpu_lost", { pci_bus_id: "0000:3B:00.0" }), 1);
    assertEquals(value(families, "DCGM_FI_DEV_POWER_USAGE", { gpu: "0" }), 71.32);
    assertEquals(value(families, "node_scrape_collector_success"), 1);
  }));

Deno.test("gpuCollector fails alone, in one line, without a driver or without nvidia-smi", () =>
  withTempDir(async (root) => {
    const nodriver = await collect(root, "nodriver");
    assertEquals(
      nodriver.problems.get("collector gpu"),
      "Cannot query GPUs with nvidia-smi (exit 9): NVIDIA-SMI has failed because it couldn't " +
        "communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed " +
        "and running",
    );
    const absent = await collect(root, "a100", { nvidiaSmi: `${root}/no/nvidia-smi` });
    assertEquals(
      absent.problems.get("collector gpu"),
      `Cannot run "${root}/no/nvidia-smi": not found (no NVIDIA driver tools on this node)`,
    );
    assertEquals(value(absent.families, "node_scrape_collector_success"), 0);
    assertEquals(absent.families.length, 2, "the scrape's own families only");
  }));
