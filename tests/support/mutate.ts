/**
 * Mutated cores for fuzzing the core reader, the decompressors and gdb's parser: a seeded
 * generator of hostile variants of a real core (bit flips and extreme values in the ELF
 * header, program headers and notes; truncation; moved, duplicated and overlapping
 * regions), and a classifier that turns what `analyze core` did into the exit code
 * `main.ts` would give. Shared by `tests/fuzz_cores_test.ts` (a bounded count in CI) and
 * `bench/fuzz_cores.ts` (long runs).
 *
 * @module
 */
import { gzipSync, zstdCompressSync } from "node:zlib";
import { AgentError } from "../../lib/errors.ts";
import { analyzeCore, type AnalyzeOptions } from "../../lib/core/mod.ts";

/** A small, fast, seeded PRNG (mulberry32), so a failing case can be made again. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the parts a reader looks at lie in a core. */
export interface CoreLayout {
  phoff: number;
  phnum: number;
  /** Offsets and sizes of the PT_NOTE segments. */
  notes: { offset: number; size: number }[];
}

/** Finds the program headers and notes of a (well-formed, plain) core. */
export function layoutOf(core: Uint8Array): CoreLayout {
  const view = new DataView(core.buffer, core.byteOffset, core.byteLength);
  const phoff = Number(view.getBigUint64(32, true));
  const phnum = view.getUint16(56, true);
  const notes: CoreLayout["notes"] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * 56;
    if (view.getUint32(at, true) === 4) {
      notes.push({
        offset: Number(view.getBigUint64(at + 8, true)),
        size: Number(view.getBigUint64(at + 32, true)),
      });
    }
  }
  return { phoff, phnum, notes };
}

const EXTREMES = [
  0n,
  1n,
  0x7fn,
  0xffn,
  0xffffn,
  0x7fffffffn,
  0xffffffffn,
  0x100000000n,
  1n << 44n,
  (1n << 53n) - 1n,
  1n << 53n,
  (1n << 63n) - 1n,
  0xffffffffffffffffn,
];

/**
 * One mutation of `core` (which is not changed), chosen by `next`. Most mutations hit the
 * parts the reader parses; some hit anywhere, truncate, or move whole regions.
 */
export function mutate(core: Uint8Array, layout: CoreLayout, next: () => number): Uint8Array {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const int = (n: number) => Math.floor(next() * n);
  const hot = (): number => {
    const regions = [
      { offset: 0, size: 64 },
      { offset: layout.phoff, size: layout.phnum * 56 },
      ...layout.notes,
    ];
    const region = pick(regions);
    return Math.min(core.length - 1, region.offset + int(Math.max(1, region.size)));
  };
  const out = core.slice();
  const view = new DataView(out.buffer);
  const kind = int(10);
  const mutations = 1 + int(4);
  for (let m = 0; m < mutations; m++) {
    switch (kind) {
      case 0: // flip bits in a hot region
        out[hot()]! ^= 1 << int(8);
        break;
      case 1: // a random byte in a hot region
        out[hot()] = int(256);
        break;
      case 2: { // an extreme 64-bit value at an aligned hot offset
        const at = hot() & ~7;
        if (at + 8 <= out.length) view.setBigUint64(at, pick(EXTREMES), true);
        break;
      }
      case 3: { // an extreme 32-bit value (note sizes and types, counts)
        const at = hot() & ~3;
        if (at + 4 <= out.length) view.setUint32(at, Number(pick(EXTREMES) & 0xffffffffn), true);
        break;
      }
      case 4: // a header field of the ELF header
        view.setBigUint64(pick([24, 32, 40]), pick(EXTREMES), true);
        break;
      case 5: // e_phnum, e_phentsize, e_shnum
        view.setUint16(pick([54, 56, 58, 60]), int(0x10000), true);
        break;
      case 6: // any byte anywhere
        out[int(out.length)] = int(256);
        break;
      case 7: // zero a run in a hot region
        out.fill(0, hot(), hot() + int(64));
        break;
    }
  }
  switch (kind) {
    case 8: // truncated anywhere, often inside the headers or notes
      return out.subarray(0, next() < 0.5 ? hot() : int(out.length));
    case 9: { // the program headers moved to the end (valid), sometimes damaged after
      const table = out.slice(layout.phoff, layout.phoff + layout.phnum * 56);
      const moved = new Uint8Array(out.length + table.length);
      moved.set(out);
      moved.set(table, out.length);
      new DataView(moved.buffer).setBigUint64(32, BigInt(out.length), true);
      if (next() < 0.3) moved[out.length + int(table.length)] = int(256);
      return moved;
    }
  }
  return out;
}

/** The exit code `agent analyze core` gives for `path`, as `main.ts` maps what it threw. */
export async function exitCodeOf(path: string, options: AnalyzeOptions): Promise<{
  code: number;
  message: string;
}> {
  try {
    await analyzeCore(path, options);
    return { code: 0, message: "" };
  } catch (error) {
    if (error instanceof AgentError) return { code: error.exitCode, message: error.message };
    return {
      code: 70,
      message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    };
  }
}

/** A real core to mutate, with its executable and where its parts lie. */
export interface FuzzSource {
  bytes: Uint8Array;
  exe: string;
  layout: CoreLayout;
}

/** Reads a core to mutate. */
export async function fuzzSource(core: string, exe: string): Promise<FuzzSource> {
  const bytes = await Deno.readFile(core);
  return { bytes, exe, layout: layoutOf(bytes) };
}

/** A mutated plain core of one of `sources`. */
export function plainCase(
  sources: FuzzSource[],
  next: () => number,
): { bytes: Uint8Array; exe: string } {
  const source = sources[Math.floor(next() * sources.length)]!;
  return { bytes: mutate(source.bytes, source.layout, next), exe: source.exe };
}

/**
 * A compressed core: gzip, zstd or lz4 of a mutated core, or a valid compression of a real
 * core with its compressed bytes damaged or cut.
 */
export async function compressedCase(
  sources: FuzzSource[],
  next: () => number,
): Promise<{ bytes: Uint8Array; exe: string }> {
  const source = sources[Math.floor(next() * sources.length)]!;
  const damagedAfter = next() < 0.4;
  const plain = damagedAfter ? source.bytes : mutate(source.bytes, source.layout, next);
  const kind = Math.floor(next() * 3);
  let bytes = kind === 0
    ? new Uint8Array(gzipSync(plain, { level: 1 }))
    : kind === 1
    ? new Uint8Array(zstdCompressSync(plain))
    : await lz4(plain);
  if (damagedAfter) {
    bytes = bytes.slice();
    const hits = 1 + Math.floor(next() * 4);
    for (let h = 0; h < hits; h++) {
      const at = Math.floor(next() * bytes.length);
      if (next() < 0.2) bytes = bytes.subarray(0, at);
      else bytes[at] = Math.floor(next() * 256);
    }
  }
  return { bytes, exe: source.exe };
}

/** Compresses with the `lz4` command (no lz4 compressor runs in-process). */
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
