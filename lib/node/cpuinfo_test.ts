import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import { cpuinfoCollector, parseCpuinfo } from "./cpuinfo.ts";
import { HOST, pathsAt, samples, withHost } from "./_testing.ts";

Deno.test("cpuinfoCollector reads node_cpu_info per CPU and the listed flags of the first", async () => {
  const { families, problems } = await collectNode([cpuinfoCollector], pathsAt(HOST), {
    cpuFlags: ["avx2", "avx512f", "sve", "hypervisor"],
  });
  assertEquals(
    samples(families, "node_cpu_info").map((s) => s.labels),
    [0, 1].map((cpu) => ({
      package: "0",
      core: String(cpu),
      cpu: String(cpu),
      vendor: "GenuineIntel",
      family: "6",
      model: "207",
      model_name: "Intel(R) Xeon(R) Processor",
      microcode: "0x1",
      stepping: "2",
      cachesize: "266240 KB",
    })),
  );
  // In the kernel's order; sve is not an x86 flag.
  assertEquals(samples(families, "node_cpu_flag_info").map((s) => s.labels.flag), [
    "hypervisor",
    "avx2",
    "avx512f",
  ]);
  assertEquals([...problems], []);
});

Deno.test("parseCpuinfo() reads arm64's blocks, its Features as flags", () => {
  const blocks = parseCpuinfo(
    "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm sve\nCPU implementer\t: 0x41\n\n" +
      "processor\t: 1\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm sve\n\n",
  );
  assertEquals(blocks.map((b) => b.get("processor")), ["0", "1"]);
  assertEquals(blocks[0]!.get("Features"), "fp asimd evtstrm sve");
});

Deno.test("cpuinfoCollector warns once for a file with no processor, and fails when it is missing", () =>
  withHost(async (root) => {
    await Deno.writeTextFile(`${root}proc/cpuinfo`, "  \nnot: cpuinfo\n");
    const { families, problems } = await collectNode([cpuinfoCollector], pathsAt(root));
    assertEquals(samples(families, "node_cpu_info"), []);
    assertEquals([...problems], [[`${root}proc/cpuinfo`, "no processor block"]]);
    await Deno.remove(`${root}proc/cpuinfo`);
    const missing = await collectNode([cpuinfoCollector], pathsAt(root));
    assertEquals(
      samples(missing.families, "node_scrape_collector_success")[0]?.value,
      0,
    );
    assertEquals(missing.problems.get(`${root}proc/cpuinfo`), "no such file");
  }));
