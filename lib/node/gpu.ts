/**
 * `gpu`: NVIDIA GPUs through `nvidia-smi` (`node.nvidiaSmiPath`, at most
 * `node.commandTimeout`), with dcgm-exporter's names and labels, so that its dashboards work
 * on nodes without DCGM: `--query-gpu=...` for the devices, `--query-compute-apps=...` for the
 * memory each process holds, with the pod of the process's cgroup.
 *
 * - Names and units are dcgm-exporter's (`DCGM_FI_DEV_*`: °C, W, %, MiB, MHz, error counts);
 *   labels `gpu` (the index), `UUID`, `pci_bus_id`, `device` (`nvidia<index>`), `modelName`
 *   and `DCGM_FI_DRIVER_VERSION`, as dcgm-exporter's default configuration prints them. XID
 *   errors are not among them: `nvidia-smi` does not report them (the kernel log does).
 * - A value `nvidia-smi` prints as `[N/A]`, `[Not Supported]` or any other bracketed text is
 *   left out, never made a zero. A field this driver does not know (`Field "x" is not a valid
 *   field to query.`) is dropped from the query, said once, and never asked again.
 * - A GPU that fell off the bus (`Unable to determine the device handle for GPU...: GPU is
 *   lost...`) is one warning and `node_gpu_lost{pci_bus_id} 1`; the other GPUs are read on.
 * - Without `nvidia-smi` (most nodes) the collector fails with one line saying so.
 *
 * @module
 */
import type { Labels, MetricType } from "../prom/mod.ts";
import { runCommand, type Runner, text } from "../run.ts";
import type { CollectContext, NodeCollector } from "./collector.ts";
import { cgroupIdsOfPath } from "./cgroups.ts";
import { Families, readText, toNumber } from "./_read.ts";

/** A metric `nvidia-smi` gives, by its query field. */
interface GpuMetric {
  field: string;
  name: string;
  type: MetricType;
  help: string;
  /** A `Yes`/`No` field (remapping failure) as 1/0. */
  yesNo?: boolean;
}

/** The fields that become labels; `index` and `uuid` are required. */
const LABEL_FIELDS = ["index", "uuid", "name", "pci.bus_id", "driver_version"] as const;

/** The fields that become metrics, with dcgm-exporter's names and help texts. */
export const GPU_METRICS: readonly GpuMetric[] = [
  ["temperature.gpu", "DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."],
  ["temperature.memory", "DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."],
  ["power.draw", "DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."],
  ["utilization.gpu", "DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."],
  ["utilization.memory", "DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."],
  ["utilization.encoder", "DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."],
  ["utilization.decoder", "DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."],
  ["memory.used", "DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."],
  ["memory.free", "DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."],
  ["memory.total", "DCGM_FI_DEV_FB_TOTAL", "gauge", "Framebuffer memory total (in MiB)."],
  ["memory.reserved", "DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."],
  ["clocks.sm", "DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."],
  ["clocks.mem", "DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."],
  [
    "ecc.errors.corrected.volatile.total",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
    "counter",
    "Total number of single-bit volatile ECC errors.",
  ],
  [
    "ecc.errors.uncorrected.volatile.total",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "counter",
    "Total number of double-bit volatile ECC errors.",
  ],
  [
    "ecc.errors.corrected.aggregate.total",
    "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL",
    "counter",
    "Total number of single-bit persistent ECC errors.",
  ],
  [
    "ecc.errors.uncorrected.aggregate.total",
    "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL",
    "counter",
    "Total number of double-bit persistent ECC errors.",
  ],
  [
    "retired_pages.single_bit_ecc.count",
    "DCGM_FI_DEV_RETIRED_SBE",
    "counter",
    "Total number of retired pages due to single-bit errors.",
  ],
  [
    "retired_pages.double_bit.count",
    "DCGM_FI_DEV_RETIRED_DBE",
    "counter",
    "Total number of retired pages due to double-bit errors.",
  ],
  [
    "remapped_rows.correctable",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
    "counter",
    "Number of remapped rows for correctable errors",
  ],
  [
    "remapped_rows.uncorrectable",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "counter",
    "Number of remapped rows for uncorrectable errors",
  ],
  [
    "remapped_rows.failure",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "gauge",
    "Whether remapping of rows has failed",
  ],
].map(([field, name, type, help]) => ({
  field: field!,
  name: name!,
  type: type as MetricType,
  help: help!,
  ...(field === "remapped_rows.failure" ? { yesNo: true } : {}),
}));

const APP_FIELDS = ["gpu_uuid", "pid", "used_memory"] as const;
const FORMAT = "--format=csv,noheader,nounits";
const UNKNOWN_FIELD = /^Field "([^"]+)" is not a valid field to query/;
const LOST = /^Unable to determine the device handle for GPU ?([0-9A-Fa-f]+:[0-9A-Fa-f:.]+): (.+)$/;

/** Fields each runner's `nvidia-smi` refused, so they are asked once only. */
const refusedFields = new WeakMap<Runner, Map<string, Set<string>>>();

function refused(run: Runner, program: string): Set<string> {
  let byProgram = refusedFields.get(run);
  if (byProgram === undefined) refusedFields.set(run, byProgram = new Map());
  let fields = byProgram.get(program);
  if (fields === undefined) byProgram.set(program, fields = new Set());
  return fields;
}

/** A value as `nvidia-smi` prints it: a number, `Yes`/`No`, or bracketed "no value". */
function parseValue(value: string | undefined, yesNo = false): number | undefined {
  const trimmed = value?.trim() ?? "";
  if (yesNo && /^(yes|no)$/i.test(trimmed)) return /^yes$/i.test(trimmed) ? 1 : 0;
  return trimmed.startsWith("[") || trimmed === "N/A" ? undefined : toNumber(trimmed);
}

/** Runs `nvidia-smi` with `args`: its output lines (stdout, then stderr) and exit code. */
async function nvidiaSmi(
  context: CollectContext,
  args: string[],
): Promise<{ lines: string[]; code: number }> {
  const program = context.nvidiaSmi ?? "nvidia-smi";
  const timeoutMs = context.commandTimeoutMs ?? 5000;
  let result;
  try {
    result = await (context.run ?? runCommand)(program, {
      args,
      timeoutMs,
      maxOutputBytes: 1 << 20,
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot run "${program}": not found (no NVIDIA driver tools on this node)`);
    }
    throw error;
  }
  if (result.timedOut) {
    throw new Error(`Cannot run "${program}": no answer within ${timeoutMs / 1000} s`);
  }
  const lines = (text(result.stdout) + "\n" + text(result.stderr)).split("\n")
    .map((line) => line.trim()).filter((line) => line !== "");
  return { lines, code: result.code };
}

/**
 * Asks `--query-gpu` for every field this driver knows: a field it refuses is dropped (and
 * remembered) and the query asked again.
 */
async function queryGpus(
  context: CollectContext,
): Promise<{ fields: string[]; lines: string[]; code: number }> {
  const run = context.run ?? runCommand;
  const refusedHere = refused(run, context.nvidiaSmi ?? "nvidia-smi");
  for (let attempt = 0; attempt <= GPU_METRICS.length; attempt++) {
    const fields = [...LABEL_FIELDS, ...GPU_METRICS.map((m) => m.field)].filter((f) =>
      !refusedHere.has(f)
    );
    const { lines, code } = await nvidiaSmi(context, [`--query-gpu=${fields.join(",")}`, FORMAT]);
    const unknown = lines.map((line) => UNKNOWN_FIELD.exec(line)?.[1]).find((f) => f);
    if (unknown === undefined) return { fields, lines, code };
    if ((LABEL_FIELDS as readonly string[]).includes(unknown) || refusedHere.has(unknown)) {
      throw new Error(`Cannot query GPUs: nvidia-smi refused the field "${unknown}"`);
    }
    refusedHere.add(unknown);
    context.warn(`nvidia-smi field ${unknown}`, "not known to this driver: not asked again");
  }
  throw new Error("Cannot query GPUs: nvidia-smi refused every field");
}

/** The pod and container of a process, from its cgroup and the runtime's names. */
async function podOf(context: CollectContext, pid: string): Promise<Labels> {
  // A process that is gone is no problem; any other is told once for all processes.
  const quiet = {
    warn: (source: string, reason: string) =>
      context.warn("process cgroup", `${reason} ("${source}")`),
  };
  const text = await readText(quiet, `${context.paths.proc}/${pid}/cgroup`, { optional: true });
  const path = text?.split("\n").map((line) => line.split(":").slice(2).join(":"))
    .find((p) => cgroupIdsOfPath(p).podUid !== undefined);
  const ids = path === undefined ? {} : cgroupIdsOfPath(path);
  if (ids.containerId) context.containers?.notice([ids.containerId]);
  const container = ids.containerId ? context.containers?.container(ids.containerId) : undefined;
  const pod = ids.podUid && !container ? context.containers?.pod(ids.podUid) : undefined;
  return {
    namespace: container?.namespace ?? pod?.namespace ?? "",
    pod: container?.pod ?? pod?.name ?? "",
    container: container?.container ?? "",
  };
}

/** DCGM_FI_DEV_* per GPU, per-process GPU memory, and GPUs fallen off the bus. */
export const gpuCollector: NodeCollector = {
  name: "gpu",
  description: "NVIDIA GPUs with dcgm-exporter's names (nvidia-smi)",
  capabilities: { reads: ["nvidia-smi", "proc/<pid>/cgroup"] },
  async collect(context) {
    const { fields, lines, code } = await queryGpus(context);
    const out = new Families();
    const gpus = new Map<string, Labels>();
    let lostGpus = 0;
    for (const line of lines) {
      const lost = LOST.exec(line);
      if (lost) {
        const bus = lost[1]!;
        lostGpus++;
        context.warn(`GPU ${bus}`, lost[2]!);
        out.add(
          "node_gpu_lost",
          "A GPU nvidia-smi cannot reach (fallen off the bus, or otherwise lost): 1.",
          "gauge",
          1,
          { pci_bus_id: bus },
        );
        continue;
      }
      const values = line.split(", ");
      if (values.length !== fields.length) continue;
      const value = (field: string) => values[fields.indexOf(field)];
      const index = value("index") ?? "";
      const uuid = value("uuid") ?? "";
      if (!/^\d+$/.test(index) || uuid === "") continue;
      const labels: Labels = {
        gpu: index,
        UUID: uuid,
        pci_bus_id: value("pci.bus_id") ?? "",
        device: `nvidia${index}`,
        modelName: value("name") ?? "",
        DCGM_FI_DRIVER_VERSION: value("driver_version") ?? "",
      };
      gpus.set(uuid, labels);
      for (const metric of GPU_METRICS) {
        if (!fields.includes(metric.field)) continue;
        const number = parseValue(value(metric.field), metric.yesNo);
        if (number !== undefined) out.add(metric.name, metric.help, metric.type, number, labels);
      }
    }
    if (gpus.size === 0 && lostGpus === 0) {
      // No device and no lost one: nvidia-smi's own message says why (no driver, no GPU).
      const said = lines[0]?.slice(0, 200).replace(/\.$/, "") ?? "no output";
      throw new Error(`Cannot query GPUs with nvidia-smi (exit ${code}): ${said}`);
    }
    const apps = await nvidiaSmi(context, [`--query-compute-apps=${APP_FIELDS.join(",")}`, FORMAT])
      .catch((error) => {
        context.warn("nvidia-smi --query-compute-apps", String(error?.message ?? error));
        return { lines: [], code: 0 };
      });
    for (const line of apps.lines) {
      const [uuid, pid, used] = line.split(", ");
      const gpu = uuid === undefined ? undefined : gpus.get(uuid);
      const mib = parseValue(used);
      if (gpu === undefined || !/^\d+$/.test(pid ?? "") || mib === undefined) continue;
      out.add(
        "node_gpu_process_memory_used_bytes",
        "GPU memory a process holds, with the pod of its cgroup.",
        "gauge",
        mib * 1024 * 1024,
        { gpu: gpu.gpu!, UUID: gpu.UUID!, pid: pid!, ...await podOf(context, pid!) },
      );
    }
    return out.list();
  },
};
