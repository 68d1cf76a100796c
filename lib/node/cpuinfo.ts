/**
 * `cpuinfo`: what each CPU is, from `/proc/cpuinfo`: node_exporter's cpu collector's info
 * series (`--collector.cpu.info`), `node_cpu_info{package,core,cpu,vendor,family,model,
 * model_name,microcode,stepping,cachesize}`, and `node_cpu_flag_info{flag}` for the flags of
 * `node.cpuFlags` the first CPU has (its `--collector.cpu.info.flags-include`).
 *
 * Why a list of flags rather than all of them or a count: an x86 server has 100 to 200 flags,
 * each a series on every node, and a count answers nothing. What an operator asks is whether
 * this node has the instructions a workload dispatches on: Milvus (knowhere, faiss) picks its
 * distance kernels by SSE4.2, AVX2, AVX-512 or, on Arm, NEON (`asimd`) and SVE; a node without
 * them is several times slower on the same index, and a binary built for them crashes with
 * SIGILL where they lack. `hypervisor` tells a VM from bare metal. The default list is those;
 * `node.cpuFlags` changes it.
 *
 * @module
 */
import type { NodeCollector } from "./collector.ts";
import { Families, readTextNow } from "./_read.ts";

/** The flags exported by default (`node.cpuFlags`): see the module's documentation. */
export const DEFAULT_CPU_FLAGS: readonly string[] = [
  "sse4_2",
  "popcnt",
  "avx",
  "avx2",
  "fma",
  "f16c",
  "avx512f",
  "avx512dq",
  "avx512bw",
  "avx512vl",
  "avx512_bf16",
  "avx512_fp16",
  "amx_tile",
  "asimd",
  "sve",
  "sve2",
  "hypervisor",
];

/** One processor's block of `/proc/cpuinfo`, by key (keys trimmed, values as written). */
export type CpuinfoBlock = Map<string, string>;

/**
 * The processor blocks of `/proc/cpuinfo`: x86 and arm64 write one block per CPU, each
 * starting with `processor` (arm64's flags are its `Features`). Lines before the first block
 * (older Arm kernels' `Processor`, `model name`) are every CPU's, as procfs reads them.
 */
export function parseCpuinfo(text: string): CpuinfoBlock[] {
  const blocks: CpuinfoBlock[] = [];
  const shared: CpuinfoBlock = new Map();
  let current: CpuinfoBlock | undefined;
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === "processor" && /^\d+$/.test(value)) {
      current = new Map(shared);
      current.set(key, value);
      blocks.push(current);
    } else if (current) {
      current.set(key, value);
    } else {
      shared.set(key, value);
    }
  }
  return blocks;
}

/** node_cpu_info{...}, node_cpu_flag_info{flag}. */
export const cpuinfoCollector: NodeCollector = {
  name: "cpuinfo",
  description: "CPU models, microcode and instruction-set flags (/proc/cpuinfo)",
  capabilities: { reads: ["proc/cpuinfo"] },
  collect(context) {
    const path = `${context.paths.proc}/cpuinfo`;
    const text = readTextNow(context, path);
    if (text === undefined) return Promise.reject(new Error(`cannot read ${path}`));
    const blocks = parseCpuinfo(text);
    if (blocks.length === 0) {
      context.warn(path, "no processor block");
      return Promise.resolve([]);
    }
    const out = new Families();
    for (const cpu of blocks) {
      const field = (...keys: string[]) =>
        keys.map((key) => cpu.get(key)).find((v) => v !== undefined) ?? "";
      out.add("node_cpu_info", "CPU information from /proc/cpuinfo.", "gauge", 1, {
        package: field("physical id"),
        core: field("core id"),
        cpu: field("processor"),
        vendor: field("vendor_id", "vendor"),
        family: field("cpu family"),
        model: field("model"),
        model_name: field("model name"),
        microcode: field("microcode"),
        stepping: field("stepping"),
        cachesize: field("cache size"),
      });
    }
    const first = blocks[0]!;
    const flags = new Set((first.get("flags") ?? first.get("Features") ?? "").split(/\s+/));
    // In the order the kernel writes them, as node_exporter does.
    for (const flag of flags) {
      if (flag === "" || !context.options.cpuFlags.includes(flag)) continue;
      out.add(
        "node_cpu_flag_info",
        "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
        "gauge",
        1,
        { flag },
      );
    }
    return Promise.resolve(out.list());
  },
};
