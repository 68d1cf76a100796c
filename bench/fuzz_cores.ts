// deno-lint-ignore-file no-console
/**
 * Long fuzz run of `analyze core` over mutated real cores: plain ones, and compressed ones
 * (gzip, zstd, lz4 of a mutated core, or a valid compression with its own bytes damaged),
 * with and without gdb. Every case must end in exit code 0 or 2 (an internal error, 70, or
 * a hang is a defect); failing cases are kept in the output directory with their seed.
 *
 * ```sh
 * deno run -q -A bench/fuzz_cores.ts --plain 3000 --compressed 1000 --gdb 300 --seed 1
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { crash } from "../tests/support/cores.ts";
import {
  compressedCase,
  exitCodeOf,
  fuzzSource,
  plainCase,
  random,
} from "../tests/support/mutate.ts";
import type { AnalyzeOptions } from "../lib/core/mod.ts";

const { values } = parseArgs({
  options: {
    plain: { type: "string", default: "3000" },
    compressed: { type: "string", default: "1000" },
    gdb: { type: "string", default: "300" },
    seed: { type: "string", default: "1" },
    keep: { type: "string", default: "" },
  },
});
const seed = Number(values.seed);
const work = await Deno.makeTempDir({ prefix: "agent-fuzz-" });
const keep = values.keep || `${work}/failures`;
await Deno.mkdir(keep, { recursive: true });

const samples = await Promise.all(
  ["segv", "threads", "abort"].map((name) => crash(name, `${work}/src`)),
);
const sources = await Promise.all(samples.map((s) => fuzzSource(s.core, s.exe)));

const noGdb: AnalyzeOptions = { gdb: false };
const withGdb = (exe: string): AnalyzeOptions => ({
  exe,
  gdb: { gdbPath: "gdb", timeoutMs: 20_000, maxOutputBytes: 16 << 20 },
  tempDir: work,
});

const counts = new Map<string, number>();
const failures: string[] = [];
async function run(
  label: string,
  n: number,
  make: (next: () => number) => Promise<{ bytes: Uint8Array; exe: string }>,
  options: (exe: string) => AnalyzeOptions,
): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const caseSeed = seed * 1_000_003 + i;
    const { bytes, exe } = await make(random(caseSeed));
    const path = `${work}/case`;
    await Deno.writeFile(path, bytes);
    const { code, message } = await exitCodeOf(path, options(exe));
    const key = `${label} exit ${code}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (code !== 0 && code !== 2) {
      const kept = `${keep}/${label}-${caseSeed}`;
      await Deno.copyFile(path, kept);
      failures.push(`${kept}: ${message}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${label}: ${n} cases in ${seconds.toFixed(1)} s`);
}

const plain = (next: () => number) => Promise.resolve(plainCase(sources, next));
const compressed = (next: () => number) => compressedCase(sources, next);

await run("plain", Number(values.plain), plain, () => noGdb);
await run("compressed", Number(values.compressed), compressed, () => noGdb);
await run("plain+gdb", Number(values.gdb), plain, withGdb);
await run("compressed+gdb", Math.ceil(Number(values.gdb) / 3), compressed, withGdb);

for (const [key, count] of [...counts].sort()) console.log(`  ${key}: ${count}`);
console.log(`seed ${seed}; ${failures.length} cases ended in something other than 0 or 2`);
for (const line of failures.slice(0, 50)) console.log(`  ${line}`);
if (failures.length === 0) await Deno.remove(work, { recursive: true });
else console.log(`kept in ${keep}`);
Deno.exit(failures.length === 0 ? 0 : 1);
