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
import { gzipSync, zstdCompressSync } from "node:zlib";
import { crash } from "../tests/support/cores.ts";
import { exitCodeOf, layoutOf, mutate, random } from "../tests/support/mutate.ts";
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
const cores = await Promise.all(samples.map(async (s) => {
  const bytes = await Deno.readFile(s.core);
  return { ...s, bytes, layout: layoutOf(bytes) };
}));

const noGdb: AnalyzeOptions = { gdb: false };
const withGdb = (exe: string): AnalyzeOptions => ({
  exe,
  gdb: { gdbPath: "gdb", timeoutMs: 20_000, maxOutputBytes: 16 << 20 },
  tempDir: work,
});

async function lz4(bytes: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("lz4", {
    args: ["-q", "-c"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  // Written while the output is read: a pipe holds only 64 KiB.
  const [, output] = await Promise.all([
    ReadableStream.from([bytes]).pipeTo(child.stdin),
    child.output(),
  ]);
  return output.stdout;
}

const counts = new Map<string, number>();
const failures: string[] = [];
async function run(
  label: string,
  n: number,
  make: (next: () => number, i: number) => Promise<{ bytes: Uint8Array; exe: string }>,
  options: (exe: string) => AnalyzeOptions,
): Promise<void> {
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const caseSeed = seed * 1_000_003 + i;
    const { bytes, exe } = await make(random(caseSeed), i);
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

const plainCase = (next: () => number) => {
  const core = cores[Math.floor(next() * cores.length)]!;
  return Promise.resolve({ bytes: mutate(core.bytes, core.layout, next), exe: core.exe });
};

const compressedCase = async (next: () => number) => {
  const core = cores[Math.floor(next() * cores.length)]!;
  const damagedAfter = next() < 0.4;
  const source = damagedAfter ? core.bytes : mutate(core.bytes, core.layout, next);
  const kind = Math.floor(next() * 3);
  let bytes = kind === 0
    ? new Uint8Array(gzipSync(source, { level: 1 }))
    : kind === 1
    ? new Uint8Array(zstdCompressSync(source))
    : await lz4(source);
  if (damagedAfter) {
    bytes = bytes.slice();
    const hits = 1 + Math.floor(next() * 4);
    for (let h = 0; h < hits; h++) {
      const at = Math.floor(next() * bytes.length);
      if (next() < 0.2) bytes = bytes.subarray(0, at);
      else bytes[at] = Math.floor(next() * 256);
    }
  }
  return { bytes, exe: core.exe };
};

await run("plain", Number(values.plain), plainCase, () => noGdb);
await run("compressed", Number(values.compressed), compressedCase, () => noGdb);
await run("plain+gdb", Number(values.gdb), plainCase, withGdb);
await run("compressed+gdb", Math.ceil(Number(values.gdb) / 3), compressedCase, withGdb);

for (const [key, count] of [...counts].sort()) console.log(`  ${key}: ${count}`);
console.log(`seed ${seed}; ${failures.length} cases ended in something other than 0 or 2`);
for (const line of failures.slice(0, 50)) console.log(`  ${line}`);
if (failures.length === 0) await Deno.remove(work, { recursive: true });
else console.log(`kept in ${keep}`);
Deno.exit(failures.length === 0 ? 0 : 1);
