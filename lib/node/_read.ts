/**
 * Reading the host's pseudo-files: whole (they are small, and a kernel file read in pieces
 * can change between the pieces), capped, with "missing" told from "unreadable".
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { Labels, MetricFamily, MetricType } from "../prom/mod.ts";
import type { CollectContext } from "./collector.ts";

/** Pseudo-files this large are not what the collectors expect. */
const MAX_FILE_BYTES = 16 << 20;

/**
 * The text of `path`, or `undefined` when it does not exist (or cannot be read: then the
 * context is warned, naming the file).
 */
export async function readText(
  context: Pick<CollectContext, "warn">,
  path: string,
  options: { optional?: boolean } = {},
): Promise<string | undefined> {
  try {
    const bytes = await Deno.readFile(path);
    if (bytes.length > MAX_FILE_BYTES) {
      context.warn(path, `larger than ${MAX_FILE_BYTES} bytes: not read`);
      return undefined;
    }
    return new TextDecoder().decode(bytes);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (!options.optional) context.warn(path, "no such file");
    } else {
      context.warn(path, errorMessage(error));
    }
    return undefined;
  }
}

/**
 * {@linkcode readText}, synchronously: for pseudo-files the kernel makes from memory
 * (`/proc/diskstats`, `/proc/net/*`, most of `/sys`), which never wait on a device and cost
 * half as much CPU read in place as on Deno's blocking pool (a thread hop each: 13 µs against
 * 25 µs per file here). Not for files that may wait: a driver's attributes that take the
 * RTNL lock (a network device's `speed`), files on disk.
 */
export function readTextNow(
  context: Pick<CollectContext, "warn">,
  path: string,
  options: { optional?: boolean } = {},
): string | undefined {
  try {
    const bytes = Deno.readFileSync(path);
    if (bytes.length > MAX_FILE_BYTES) {
      context.warn(path, `larger than ${MAX_FILE_BYTES} bytes: not read`);
      return undefined;
    }
    return new TextDecoder().decode(bytes);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (!options.optional) context.warn(path, "no such file");
    } else {
      context.warn(path, errorMessage(error));
    }
    return undefined;
  }
}

let pageBytes: number | undefined;

/**
 * The kernel's page size in bytes (what `/proc` counts some memory in), from the agent's own
 * `/proc/self/smaps`: Deno has no `getpagesize()`, and arm64 kernels use 4, 16 or 64 KiB.
 * 4096 when it cannot be read.
 */
export function pageSize(): number {
  if (pageBytes !== undefined) return pageBytes;
  pageBytes = 4096;
  try {
    using file = Deno.openSync("/proc/self/smaps");
    const buffer = new Uint8Array(4096);
    const read = file.readSync(buffer) ?? 0;
    const match = /KernelPageSize:\s+(\d+) kB/.exec(
      new TextDecoder().decode(buffer.subarray(0, read)),
    );
    if (match) pageBytes = Number(match[1]) * 1024;
  } catch {
    // No /proc of our own (not Linux): the common size.
  }
  return pageBytes;
}

/**
 * Calls `line` with each line of a file, read in pieces: for files too large to hold whole
 * (`/proc/net/tcp` of a node with 100,000 connections is 15 MB). Returns `false` when the
 * file does not exist.
 */
export async function forEachLine(path: string, line: (text: string) => void): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  using _ = file;
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let rest = "";
  for (;;) {
    const read = await file.read(buffer);
    if (read === null) break;
    const lines = (rest + decoder.decode(buffer.subarray(0, read), { stream: true })).split("\n");
    rest = lines.pop()!;
    for (const text of lines) line(text);
  }
  if (rest !== "") line(rest);
  return true;
}

/** The entries of a directory, sorted; none when it does not exist. */
export async function listDir(path: string): Promise<Deno.DirEntry[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(path))).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
  } catch {
    return [];
  }
}

/** A number, or `undefined` for text that is not one (the caller skips that value). */
export function toNumber(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Decodes the octal escapes the kernel writes in mount tables and paths (`\040` for a space,
 * `\011` a tab, `\012` a newline, `\134` a backslash).
 *
 * @example Usage
 * ```ts
 * unescapeOctal("/mnt/my\\040disk"); // "/mnt/my disk"
 * ```
 */
export function unescapeOctal(text: string): string {
  return text.replace(
    /\\([0-3][0-7]{2})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Builds families sample by sample, one per name, in the order first seen. */
export class Families {
  readonly #families = new Map<string, MetricFamily>();

  /** Adds a sample of `name` (created with `help` and `type` the first time). */
  add(
    name: string,
    help: string,
    type: MetricType,
    value: number,
    labels: Labels = {},
  ): void {
    let family = this.#families.get(name);
    if (!family) {
      family = { name, help, type, samples: [] };
      this.#families.set(name, family);
    }
    family.samples.push({ name, labels, value });
  }

  /** The families built. */
  list(): MetricFamily[] {
    return [...this.#families.values()];
  }
}
