/**
 * `analyze core` over mutated real cores ends in exit code 0 or 2, never an internal error
 * or a hang: a bounded, seeded run in CI (the long runs are `bench/fuzz_cores.ts`).
 */
import { assertEquals } from "./support/assert.ts";
import { haveCommand, haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import {
  compressedCase,
  exitCodeOf,
  type FuzzSource,
  fuzzSource,
  plainCase,
  random,
} from "./support/mutate.ts";
import type { AnalyzeOptions } from "../lib/core/mod.ts";

const skip = skipNotice("gcc", haveGcc()) || skipNotice("lz4", haveCommand("lz4"));
const SEED = 20261201;

async function sources(): Promise<FuzzSource[]> {
  const { segv, threads, abort } = await sampleCores();
  return await Promise.all([segv, threads, abort].map((c) => fuzzSource(c.core, c.exe)));
}

async function fuzz(
  label: string,
  count: number,
  make: (next: () => number) => Promise<{ bytes: Uint8Array; exe: string }>,
  options: (exe: string) => AnalyzeOptions,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "agent-test-fuzz-" });
  const bad: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const seed = SEED + i;
      const { bytes, exe } = await make(random(seed));
      await Deno.writeFile(`${dir}/case`, bytes);
      const { code, message } = await exitCodeOf(`${dir}/case`, options(exe));
      if (code !== 0 && code !== 2) bad.push(`${label} seed ${seed}: exit ${code}: ${message}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(bad, []);
}

Deno.test({
  name: "analyze core gives 0 or 2 on 400 mutated plain and 150 compressed cores (notes only)",
  ignore: skip,
  fn: async () => {
    const cores = await sources();
    await fuzz("plain", 400, (next) => Promise.resolve(plainCase(cores, next)), () => ({
      gdb: false,
    }));
    await fuzz("compressed", 150, (next) => compressedCase(cores, next), () => ({ gdb: false }));
  },
});

Deno.test({
  name: "analyze core gives 0 or 2 on 30 mutated plain and 15 compressed cores with gdb",
  ignore: skip || skipNotice("gdb", haveGdb()),
  fn: async () => {
    const cores = await sources();
    const withGdb = (exe: string): AnalyzeOptions => ({
      exe,
      gdb: { gdbPath: "gdb", timeoutMs: 30_000, maxOutputBytes: 16 << 20 },
    });
    await fuzz("plain+gdb", 30, (next) => Promise.resolve(plainCase(cores, next)), withGdb);
    await fuzz("compressed+gdb", 15, (next) => compressedCase(cores, next), withGdb);
  },
});
