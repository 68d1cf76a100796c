// deno-lint-ignore-file no-console
/**
 * Builds the cores the comparison benchmark (`compare.ts`) runs on, in `bench/.cores/`:
 *
 * - `1g/bigmem/core`: `bigmem 1024 4096`, 1 GiB of touched heap (a dense 1 GiB core);
 * - `8g-sparse/bigmem/core`: `bigmem 8192 0`, 8 GiB of untouched heap (a sparse core,
 *   8 GiB long but with few blocks on disk; when the untouched pages were written as zeros,
 *   as gdb's generate-core-file does, `fallocate --dig-holes` turns them into holes);
 * - `2g-mixed/bigmem/core` (only with `makeMixedCore()`, for the storage benchmark):
 *   `bigmem 2048 1 mixed`, 2 GiB of heap filled as a real one looks (zero pages, repeated
 *   records, text, pointers), so compressing it costs what it costs on a real core;
 * - `small/core.000` … `small/core.199`: 200 copies of one `segv` core, whose executable
 *   stays in `small-src/segv/segv` (the path recorded in the core).
 *
 * Existing cores are reused. The large cores are skipped, with a message, when gcc is
 * missing or the disk has less than 12 GB free.
 *
 * Run: `deno run -q --allow-read --allow-write --allow-run --allow-env --allow-sys bench/make_cores.ts`
 *
 * @module
 */
import { statfsSync } from "node:fs";
import { crash, haveGcc } from "../tests/support/cores.ts";

/** Where the cores are made (gitignored). */
export const CORES_DIR: string = new URL("./.cores", import.meta.url).pathname;

/** Free space the large cores need, in bytes (the 8 GiB core in full, should holes not be kept). */
export const MIN_FREE_BYTES = 12e9;

/** How many copies of the small core the score benchmark uses. */
export const SMALL_CORE_COUNT = 200;

/** A core and the executable that crashed. */
export interface CoreFile {
  exe: string;
  core: string;
}

/** One large core and the program that made it. */
export interface BigCore extends CoreFile {
  /** MiB the program allocated. */
  mib: number;
  /** Apparent size of the core file, in bytes. */
  sizeBytes: number;
  /** Bytes the core occupies on disk. */
  diskBytes: number;
}

/** The small cores of the score benchmark: copies of one core of one executable. */
export interface SmallCores {
  exe: string;
  cores: string[];
  /** Size of one core, in bytes. */
  sizeBytes: number;
}

/** What {@linkcode makeCores} made or found; a missing part says why in `skipped`. */
export interface BenchCores {
  /** 1 GiB of touched memory. */
  dense?: BigCore;
  /** 8 GiB of untouched memory. */
  sparse?: BigCore;
  small?: SmallCores;
  /** Why parts are missing, one sentence each. */
  skipped: string[];
}

/** Options of {@linkcode makeCores}. */
export interface MakeCoresOptions {
  /** Directory to make the cores in; default {@linkcode CORES_DIR}. */
  dir?: string;
  /** Progress messages; default: printed to stderr. */
  log?: (message: string) => void;
}

/** Bytes free for an unprivileged user on the filesystem holding `dir`. */
export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return Number(stats.bavail) * Number(stats.bsize);
}

async function exists(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

function gb(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

/** Reuses or makes the core of `bigmem MIB STEP` under `parent`. */
async function bigCore(
  parent: string,
  mib: number,
  step: number,
  log: (message: string) => void,
  mode: "" | "mixed" = "",
): Promise<BigCore> {
  const dir = `${parent}/bigmem`;
  const found = await existingCrash("bigmem", dir);
  let made = found;
  // The core holds the whole heap plus the program's other mappings: anything shorter was cut.
  if (!made || (await Deno.stat(made.core)).size < mib * 2 ** 20) {
    log(`making ${parent}/bigmem/core (bigmem ${mib} ${step} ${mode})...`);
    // A core cut short by an earlier run is made again from scratch.
    if (made) await Deno.remove(made.core);
    const started = performance.now();
    made = await crash("bigmem", parent, [String(mib), String(step), ...(mode ? [mode] : [])]);
    log(`  done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } else {
    log(`reusing ${made.core}`);
  }
  let info = await Deno.stat(made.core);
  if (info.size < mib * 2 ** 20) {
    throw new Error(`${made.core} is ${info.size} bytes, less than the ${mib} MiB allocated`);
  }
  if (step === 0 && diskBytes(info) > info.size / 2) {
    // Where core_pattern pipes cores to a helper, crash() has gdb's generate-core-file
    // write the core, and it writes never-touched pages as zeros (8 GiB, 26 s here).
    await digHoles(made.core, log);
    info = await Deno.stat(made.core);
  }
  return { exe: made.exe, core: made.core, mib, sizeBytes: info.size, diskBytes: diskBytes(info) };
}

function diskBytes(info: Deno.FileInfo): number {
  return (info.blocks ?? 0) * 512;
}

/** Turns the zero-filled ranges of `path` into holes (`fallocate --dig-holes`, util-linux). */
async function digHoles(path: string, log: (message: string) => void): Promise<void> {
  log(`  the untouched pages were written as zeros: fallocate --dig-holes ${path}`);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("fallocate", { args: ["--dig-holes", path], stderr: "piped" })
      .output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    log("  fallocate is not installed (Debian package util-linux): the core stays dense");
    return;
  }
  if (!out.success) {
    log(`  fallocate failed, the core stays dense: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

async function existingCrash(name: string, dir: string): Promise<CoreFile | undefined> {
  const exe = `${dir}/${name}`;
  const core = `${dir}/core`;
  if ((await exists(exe))?.isFile && (await exists(core))?.isFile) return { exe, core };
  return undefined;
}

async function smallCores(root: string, log: (message: string) => void): Promise<SmallCores> {
  let source = await existingCrash("segv", `${root}/small-src/segv`);
  if (!source) {
    log("making small-src/segv/core...");
    source = await crash("segv", `${root}/small-src`);
  }
  const size = (await Deno.stat(source.core)).size;
  const dir = `${root}/small`;
  await Deno.mkdir(dir, { recursive: true });
  const cores: string[] = [];
  let copied = 0;
  for (let i = 0; i < SMALL_CORE_COUNT; i++) {
    const core = `${dir}/core.${String(i).padStart(3, "0")}`;
    if ((await exists(core))?.size !== size) {
      await Deno.copyFile(source.core, core);
      copied++;
    }
    cores.push(core);
  }
  log(
    copied > 0
      ? `copied ${source.core} to ${copied} of ${SMALL_CORE_COUNT} small cores`
      : `reusing ${SMALL_CORE_COUNT} small cores in ${dir}`,
  );
  return { exe: source.exe, cores, sizeBytes: size };
}

/**
 * Makes (or finds) the benchmark cores. Never throws for a missing tool or a full disk:
 * the parts it cannot make are left out and explained in `skipped`.
 */
export async function makeCores(options: MakeCoresOptions = {}): Promise<BenchCores> {
  const root = options.dir ?? CORES_DIR;
  const log = options.log ?? ((message: string) => console.error(message));
  await Deno.mkdir(root, { recursive: true });
  const result: BenchCores = { skipped: [] };
  const denseDir = `${root}/1g`;
  const sparseDir = `${root}/8g-sparse`;
  const haveAll = (await existingCrash("bigmem", `${denseDir}/bigmem`)) &&
    (await existingCrash("bigmem", `${sparseDir}/bigmem`)) &&
    (await existingCrash("segv", `${root}/small-src/segv`));
  if (!haveAll && !haveGcc()) {
    result.skipped.push(
      "gcc is not installed (Debian package gcc): cannot compile the programs that make the cores",
    );
    return result;
  }
  result.small = await smallCores(root, log);
  const free = freeBytes(root);
  const needBig = !(await existingCrash("bigmem", `${denseDir}/bigmem`)) ||
    !(await existingCrash("bigmem", `${sparseDir}/bigmem`));
  if (needBig && free < MIN_FREE_BYTES) {
    result.skipped.push(
      `only ${gb(free)} free on the disk holding ${root}, the large cores need ${
        gb(MIN_FREE_BYTES)
      }: skipping the 1 GiB and 8 GiB cores`,
    );
    return result;
  }
  result.dense = await bigCore(denseDir, 1024, 4096, log);
  result.sparse = await bigCore(sparseDir, 8192, 0, log);
  return result;
}

/**
 * Makes (or finds) the 2 GiB core of realistic content the storage benchmark compresses.
 * Returns `undefined`, with the reason logged, when gcc is missing or the disk is short.
 */
export async function makeMixedCore(
  options: MakeCoresOptions = {},
): Promise<BigCore | undefined> {
  const root = options.dir ?? CORES_DIR;
  const log = options.log ?? ((message: string) => console.error(message));
  const dir = `${root}/2g-mixed`;
  await Deno.mkdir(dir, { recursive: true });
  if (!(await existingCrash("bigmem", `${dir}/bigmem`))) {
    if (!haveGcc()) {
      log("SKIP: gcc is not installed: cannot make the 2 GiB core");
      return undefined;
    }
    if (freeBytes(root) < 5e9) {
      log(`SKIP: less than 5 GB free on the disk holding ${root}: no 2 GiB core`);
      return undefined;
    }
  }
  return await bigCore(dir, 2048, 1, log, "mixed");
}

if (import.meta.main) {
  const cores = await makeCores();
  for (const core of [cores.dense, cores.sparse]) {
    if (!core) continue;
    console.log(
      `${core.core}: ${gb(core.sizeBytes)} long, ${
        gb(core.diskBytes)
      } on disk (bigmem ${core.mib})`,
    );
  }
  if (cores.small) {
    console.log(
      `${cores.small.cores.length} small cores of ${cores.small.sizeBytes} bytes in ${CORES_DIR}/small`,
    );
  }
  for (const reason of cores.skipped) console.log(`SKIP: ${reason}`);
}
