// deno-lint-ignore-file no-console
/**
 * lz4 decompression benchmark: `createLz4Decompress()` (in a Deno process of its own that
 * streams the file through it to `/dev/null`) against `lz4 -d -c FILE > /dev/null`, whole
 * processes under GNU time (wall time and peak RSS), measured together in one run.
 *
 * The input is the 1 GiB core `bench/.cores/1g/bigmem/core` (made by `make_cores.ts`; 1 GiB
 * of generated data stands in when it is missing) and, when present, the first 1 GiB of the
 * realistic `2g-mixed/bigmem/core`. Each is compressed twice, once into
 * `bench/.cores/lz4/` and reused: as `lz4` does by default (4 MiB independent blocks,
 * content checksum) and as systemd-coredump does (256 KiB linked blocks, no checksum:
 * `-B5 -BD --no-frame-crc`). Paths given as arguments replace the default inputs.
 *
 * Run: deno run -q --allow-read --allow-write --allow-run --allow-env bench/lz4.ts [--runs N] [CORE...]
 *
 * @module
 */
import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createLz4Decompress } from "../lib/compression/mod.ts";
import { CORES_DIR } from "./make_cores.ts";

const GiB = 1024 ** 3;

if (Deno.args[0] === "--decode") {
  // The measured process: decode one file to /dev/null and say how long the decoding took.
  const started = performance.now();
  let bytes = 0;
  const decoder = createLz4Decompress();
  decoder.on("data", (chunk: Uint8Array) => bytes += chunk.length);
  await pipeline(
    createReadStream(Deno.args[1]!, { highWaterMark: 1024 * 1024 }),
    decoder,
    createWriteStream("/dev/null"),
  );
  console.log(JSON.stringify({ bytes, seconds: (performance.now() - started) / 1000 }));
  Deno.exit(0);
}

const runsFlag = Deno.args.indexOf("--runs");
const runs = runsFlag >= 0 ? Number(Deno.args[runsFlag + 1]) : 5;
const paths = runsFlag >= 0 ? Deno.args.toSpliced(runsFlag, 2) : Deno.args;
const dir = `${CORES_DIR}/lz4`;
await Deno.mkdir(dir, { recursive: true });
const scratch = await Deno.makeTempDir({ prefix: "agent-lz4-bench-" });

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function sh(script: string, ...args: string[]): Promise<void> {
  const run = await new Deno.Command("sh", { args: ["-c", script, ...args], stderr: "inherit" })
    .output();
  if (!run.success) throw new Error(`${script} failed`);
}

/**
 * 1 GiB that compresses about as a core does, for machines without the bench cores: 64 KiB
 * runs of zero pages, repeated records, text and pseudo-random words in turn.
 */
async function generated(path: string): Promise<void> {
  const file = await Deno.open(`${path}.part`, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(64 * 1024);
  const words = new Uint32Array(chunk.buffer);
  const text = new TextEncoder().encode("thread 17 frame #3 in query_node::search() at 0x7f3a");
  let seed = 0x9e3779b9;
  for (let at = 0; at < GiB; at += chunk.length) {
    switch ((at / chunk.length) % 4) {
      case 0:
        chunk.fill(0);
        break;
      case 1:
        for (let i = 0; i < words.length; i++) words[i] = (i % 16) * 4096 + at;
        break;
      case 2:
        for (let i = 0; i < chunk.length; i++) chunk[i] = text[i % text.length]!;
        break;
      default:
        for (let i = 0; i < words.length; i++) {
          seed ^= seed << 13;
          seed ^= seed >>> 17;
          seed ^= seed << 5;
          words[i] = seed & 0x00ffffff;
        }
    }
    for (let written = 0; written < chunk.length;) {
      written += await file.write(chunk.subarray(written));
    }
  }
  file.close();
  await Deno.rename(`${path}.part`, path);
}

interface Input {
  name: string;
  /** The lz4 file. */
  path: string;
  /** Bytes it decompresses to. */
  bytes: number;
}

/** The lz4 files to decode, made from `source` (a 1 GiB head of it) when not there yet. */
async function inputs(name: string, source: string): Promise<Input[]> {
  const made: Input[] = [];
  for (
    const [flavour, args] of [
      ["lz4 default: 4 MiB independent blocks, content checksum", ""],
      ["systemd-coredump: 256 KiB linked blocks, no checksum", "-B5 -BD --no-frame-crc"],
    ] as const
  ) {
    const path = `${dir}/${name}${args ? ".systemd" : ""}.lz4`;
    if (!(await exists(path))) {
      console.error(`making ${path}`);
      await sh(
        `head -c ${GiB} "$0" | lz4 -q ${args} > "$1.part" && mv "$1.part" "$1"`,
        source,
        path,
      );
    }
    const bytes = Math.min(GiB, (await Deno.stat(source)).size);
    made.push({ name: `${name} (${flavour})`, path, bytes });
  }
  return made;
}

const all: Input[] = [];
if (paths.length > 0) {
  for (const path of paths) {
    all.push(...await inputs(path.replaceAll("/", "_").replace(/^_+/, ""), path));
  }
} else {
  const bigmem = `${CORES_DIR}/1g/bigmem/core`;
  if (await exists(bigmem)) all.push(...await inputs("1g-bigmem", bigmem));
  else {
    const path = `${dir}/generated`;
    if (!(await exists(path))) await generated(path);
    all.push(...await inputs("generated", path));
  }
  const mixed = `${CORES_DIR}/2g-mixed/bigmem/core`;
  if (await exists(mixed)) all.push(...await inputs("2g-mixed-head", mixed));
}

interface Sample {
  seconds: number;
  rssMB: number;
  /** Ours only: the decoding alone, timed inside the process. */
  innerSeconds?: number;
}

/** Runs `command` under GNU time, stdout to /dev/null unless `capture`. */
async function timed(command: string[], capture: boolean): Promise<Sample & { stdout: string }> {
  const started = performance.now();
  const run = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%M", "-o", `${scratch}/time`, ...command],
    stdout: capture ? "piped" : "null",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - started) / 1000;
  if (!run.success) {
    throw new Error(`${command.join(" ")}: ${new TextDecoder().decode(run.stderr)}`);
  }
  const rssMB = Number((await Deno.readTextFile(`${scratch}/time`)).trim().split("\n").at(-1)) /
    1024;
  return { seconds, rssMB, stdout: capture ? new TextDecoder().decode(run.stdout) : "" };
}

async function ours(input: Input): Promise<Sample> {
  const run = await timed([
    Deno.execPath(),
    "run",
    "-q",
    "--allow-read",
    "--allow-write=/dev/null",
    new URL(import.meta.url).pathname,
    "--decode",
    input.path,
  ], true);
  const result = JSON.parse(run.stdout) as { bytes: number; seconds: number };
  if (result.bytes !== input.bytes) {
    throw new Error(`${input.path}: decoded ${result.bytes} bytes, expected ${input.bytes}`);
  }
  return { seconds: run.seconds, rssMB: run.rssMB, innerSeconds: result.seconds };
}

async function peer(input: Input): Promise<Sample> {
  return await timed(["lz4", "-d", "-c", input.path], false);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const rows: string[] = [];
for (const input of all) {
  const samples = { ours: [] as Sample[], peer: [] as Sample[] };
  // One warm-up each (page cache), then rounds in alternating order.
  await ours(input);
  await peer(input);
  for (let round = 0; round < runs; round++) {
    if (round % 2 === 0) {
      samples.ours.push(await ours(input));
      samples.peer.push(await peer(input));
    } else {
      samples.peer.push(await peer(input));
      samples.ours.push(await ours(input));
    }
  }
  const mibps = (seconds: number) => input.bytes / 2 ** 20 / seconds;
  const o = median(samples.ours.map((s) => s.seconds));
  const inner = median(samples.ours.map((s) => s.innerSeconds!));
  const p = median(samples.peer.map((s) => s.seconds));
  const size = (await Deno.stat(input.path)).size;
  rows.push(
    `| ${input.name} | ${(size / 2 ** 20).toFixed(1)} MiB | ${mibps(o).toFixed(0)} MiB/s (${
      mibps(inner).toFixed(0)
    } decoding alone) | ${median(samples.ours.map((s) => s.rssMB)).toFixed(1)} MB | ${
      mibps(p).toFixed(0)
    } MiB/s | ${median(samples.peer.map((s) => s.rssMB)).toFixed(1)} MB | ${(p / o).toFixed(2)}× |`,
  );
  console.error(`done: ${input.name}`);
}
await Deno.remove(scratch, { recursive: true });

console.log(`median of ${runs} runs after 1 warm-up, throughput in decompressed bytes\n`);
console.log(
  "| input | lz4 file | ours | ours peak RSS | lz4 -d -c > /dev/null | lz4 peak RSS | throughput ours/lz4 |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
