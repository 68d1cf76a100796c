/**
 * Debug bundles: the executable and shared libraries of a crashed process, copied while it
 * still exists (pipe mode: the kernel streams its core to the agent), so that a core from a
 * container, whose files are not on this host, can still be read with symbols.
 *
 * A bundle is collected into a directory beside the spooled core (`CORE.bundle/`: the copies
 * and `manifest.json`), through `/proc/PID/map_files` (the very files mapped, even when
 * replaced or deleted since) or else `/proc/PID/root`, bounded in total size. Stored with the
 * core, each file goes under `.bundles/BUILD_ID` in the store (by content hash when it has no
 * build-id), once whatever the number of cores that need it: a thousand crashes of one image
 * store its binaries once. The core's metadata lists the bundle (`bundle` in its `.json`), and
 * `agent analyze core` uses it from there, whether the store is a directory or S3.
 *
 * Deno refuses reads of `/proc/PID` without full access, so `cat`, `head`, `readlink`,
 * `stat` and `cp` read them, each run with an argument vector, never a shell.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { createReadStream } from "node:fs";
import { basename, join } from "node:path";
import {
  analyzeCore,
  type AnalyzeOptions,
  type BundleFile,
  type CoreAnalysis,
  readElfIdentity,
} from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import { BUNDLE_PREFIX, isSafeKey, openStore, type Store } from "../store/mod.ts";
import { makeTempDir, removeTempDir } from "../lifecycle.ts";

const entrySchema = z.object({
  /** Its path inside the crashed process's filesystem. */
  path: z.string().min(1),
  buildId: z.string().regex(/^[0-9a-f]{8,128}$/).nullable(),
  bytes: z.number().int().min(0),
  /** Where the store keeps it (`.bundles/...`), once stored or when it already was. */
  key: z.string().min(1).nullable(),
  /** The copy's name in the bundle directory, until it is stored. */
  file: z.string().regex(/^[\w.+-]+$/).optional(),
});

const manifestSchema = z.object({
  files: z.array(entrySchema),
  /** Files not copied, and why (over `collector.bundleMaxBytes`, unreadable). */
  skipped: z.array(z.object({ path: z.string(), reason: z.string() })),
  /** Where the directory store beside the core keeps its files; found, never recorded. */
  root: z.string().optional(),
});

/** One file of a bundle. */
export type BundleEntry = z.infer<typeof entrySchema>;

/** What a bundle holds, and what it left out. */
export type BundleManifest = z.infer<typeof manifestSchema>;

/** Validates a manifest read from a file a core came with: `undefined` when it is not one. */
export function parseManifest(value: unknown): BundleManifest | undefined {
  const parsed = manifestSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The directory of the bundle of the core at `corePath`. */
export function bundleDir(corePath: string): string {
  return `${corePath}.bundle`;
}

/** The most of a file's beginning read to find its build-id. */
const HEAD_BYTES = 64 * 1024;

async function run(command: string, args: string[]): Promise<Uint8Array | undefined> {
  try {
    const out = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(60_000),
    }).output();
    return out.success ? out.stdout : undefined;
  } catch {
    return undefined;
  }
}

/** One file mapped executable into the process: its path and one of its mappings at offset 0. */
interface MappedBinary {
  path: string;
  /** `START-END` of the mapping, the name of its link in `/proc/PID/map_files`. */
  range: string;
}

/**
 * The files a process maps with execute permission somewhere (the executable and its shared
 * libraries, not the data files it maps), from `/proc/PID/maps`, the executable first.
 */
export function parseMaps(text: string, exe?: string): MappedBinary[] {
  const ranges = new Map<string, string>();
  const executable = new Set<string>();
  for (const line of text.split("\n")) {
    const match = /^([0-9a-f]+-[0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
    if (!match) continue;
    const path = match[4]!.replace(/ \(deleted\)$/, "");
    if (match[2]![2] === "x") executable.add(path);
    if (/^0+$/.test(match[3]!) && !ranges.has(path)) ranges.set(path, match[1]!);
  }
  const binaries = [...ranges].filter(([path]) => executable.has(path))
    .map(([path, range]) => ({ path, range }));
  return binaries.sort((a, b) => Number(b.path === exe) - Number(a.path === exe));
}

/** Options of {@linkcode collectBundle}. */
export interface CollectBundleOptions {
  /** Most bytes copied in all; the files that would go past it are left out. */
  maxBytes: number;
  /**
   * The store: what a directory store holds already is not copied; without it, or with S3,
   * everything is.
   */
  store?: Store;
  /**
   * The crashed process's command name (`%e`): a process of another name under that pid is
   * not the one that crashed, and nothing is copied from it.
   */
  comm?: string;
}

/**
 * Copies the executable and shared libraries of the running process `pid` into `dir` and
 * writes `dir/manifest.json`. Returns the manifest, or `undefined` when the process cannot
 * be read (gone, or not permitted). Never throws for one file: it is listed as skipped.
 */
export async function collectBundle(
  pid: number,
  dir: string,
  options: CollectBundleOptions,
): Promise<BundleManifest | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (options.comm !== undefined) {
    const comm = await run("cat", ["--", `/proc/${pid}/comm`]);
    if (!comm || new TextDecoder().decode(comm).trim() !== options.comm.slice(0, 15)) {
      return undefined;
    }
  }
  const maps = await run("cat", ["--", `/proc/${pid}/maps`]);
  if (!maps) return undefined;
  const exe = await run("readlink", ["--", `/proc/${pid}/exe`]);
  const binaries = parseMaps(
    new TextDecoder().decode(maps),
    exe && new TextDecoder().decode(exe).trim().replace(/ \(deleted\)$/, ""),
  );
  await Deno.mkdir(join(dir, "files"), { recursive: true, mode: 0o700 });
  const manifest: BundleManifest = { files: [], skipped: [] };
  let copied = 0;
  for (const [index, binary] of binaries.entries()) {
    const mapped = `/proc/${pid}/map_files/${binary.range}`;
    const sources = [mapped, `/proc/${pid}/root${binary.path}`];
    let source: string | undefined;
    let head: Uint8Array | undefined;
    for (const candidate of sources) {
      head = await run("head", ["-c", String(HEAD_BYTES), "--", candidate]);
      if (head) {
        source = candidate;
        break;
      }
    }
    const size = source
      ? Number(
        new TextDecoder().decode(
          await run("stat", ["-L", "-c", "%s", "--", source]) ?? new Uint8Array(),
        ),
      )
      : NaN;
    if (!source || !head || !Number.isFinite(size) || size <= 0) {
      manifest.skipped.push({ path: binary.path, reason: "cannot read it through /proc" });
      continue;
    }
    const identity = await readElfIdentity(
      (offset, length) =>
        Promise.resolve(head!.subarray(offset, Math.min(head!.length, offset + length))),
      { soname: false },
    );
    const buildId = identity.buildId ?? null;
    const key = buildId ? `${BUNDLE_PREFIX}${buildId}` : null;
    // A directory store's copy serves the analysis where it is; an S3 store's would have to be
    // downloaded again for it, so the file is copied here all the same (and not uploaded twice).
    const store = options.store?.localPath ? options.store : undefined;
    if (key && store && (await store.hasFile(key).catch(() => false))) {
      manifest.files.push({ path: binary.path, buildId, bytes: size, key });
      continue;
    }
    if (copied + size > options.maxBytes) {
      manifest.skipped.push({
        path: binary.path,
        reason:
          `${size} bytes would take the bundle past collector.bundleMaxBytes (${options.maxBytes})`,
      });
      continue;
    }
    const file = `${index}-${basename(binary.path).replace(/[^\w.+-]/g, "_")}`;
    if (!(await run("cp", ["--", source, join(dir, "files", file)]))) {
      manifest.skipped.push({ path: binary.path, reason: "cannot copy it through /proc" });
      continue;
    }
    copied += size;
    manifest.files.push({ path: binary.path, buildId, bytes: size, key: null, file });
  }
  await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** The bundle collected beside the core at `corePath`, or `undefined` when there is none. */
export async function readBundle(corePath: string): Promise<BundleManifest | undefined> {
  try {
    return parseManifest(
      JSON.parse(await Deno.readTextFile(join(bundleDir(corePath), "manifest.json"))),
    );
  } catch {
    return undefined;
  }
}

/**
 * The bundle a core comes with: the one collected beside it (a spooled core), else the one its
 * store metadata (`CORE.json`, as the store writes it beside a stored core) names.
 */
export async function bundleOfCore(corePath: string): Promise<BundleManifest | undefined> {
  const collected = await readBundle(corePath);
  if (collected) return collected;
  let text: string;
  try {
    const info = await Deno.stat(`${corePath}.json`);
    // A metadata record is small; anything larger is not one.
    if (!info.isFile || info.size > 64 * 1024 * 1024) return undefined;
    text = await Deno.readTextFile(`${corePath}.json`);
  } catch {
    return undefined;
  }
  try {
    const record = JSON.parse(text) as { key?: unknown; metadata?: { bundle?: unknown } };
    const manifest = parseManifest(record?.metadata?.bundle);
    // A core still in the directory store that wrote it: its key says where that store's
    // root is, wherever the store is mounted now.
    const key = typeof record?.key === "string" ? record.key : undefined;
    if (manifest && key && isSafeKey(key) && corePath.endsWith(`/${key}`)) {
      manifest.root = corePath.slice(0, -key.length - 1);
    }
    return manifest;
  } catch {
    return undefined;
  }
}

async function sha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Uint8Array);
  return hash.digest("hex");
}

/**
 * Stores the copies of the bundle beside `corePath` that the store does not hold yet, and
 * returns the manifest as the core's metadata records it: every file by its key.
 *
 * @throws {UnavailableError} when the store cannot be written.
 */
export async function storeBundle(
  store: Store,
  corePath: string,
  manifest: BundleManifest,
): Promise<BundleManifest> {
  const files: BundleEntry[] = [];
  for (const entry of manifest.files) {
    if (entry.key || !entry.file) {
      files.push({ path: entry.path, buildId: entry.buildId, bytes: entry.bytes, key: entry.key });
      continue;
    }
    const copy = join(bundleDir(corePath), "files", entry.file);
    const key = `${BUNDLE_PREFIX}${entry.buildId ?? `sha256-${await sha256(copy)}`}`;
    if (!(await store.hasFile(key))) await store.putFile(key, copy);
    files.push({ path: entry.path, buildId: entry.buildId, bytes: entry.bytes, key });
  }
  return { files, skipped: manifest.skipped };
}

/** Files of a bundle made available on this host, and how to let them go. */
export interface OpenBundle {
  files: BundleFile[];
  /** What could not be made available, one line each (for the analysis's warnings). */
  problems: string[];
  /** Removes what was downloaded. */
  close(): Promise<void>;
}

/**
 * Makes a bundle's files available to gdb: copies still beside the core are used where they
 * are, stored ones where a directory store keeps them, or downloaded (S3) into a temporary
 * directory that `close()` removes.
 */
export async function openBundle(
  manifest: BundleManifest,
  options: { corePath?: string; store?: Store; tempDir?: string },
): Promise<OpenBundle> {
  const files: BundleFile[] = [];
  const problems: string[] = [];
  let scratch: string | undefined;
  for (const entry of manifest.files) {
    const known = entry.buildId ? { buildId: entry.buildId } : {};
    if (entry.file && options.corePath) {
      files.push({
        path: entry.path,
        file: join(bundleDir(options.corePath), "files", entry.file),
        ...known,
      });
      continue;
    }
    if (!entry.key || !isSafeKey(entry.key) || !entry.key.startsWith(BUNDLE_PREFIX)) continue;
    const beside = manifest.root ? join(manifest.root, entry.key) : undefined;
    if (beside && (await Deno.stat(beside).then((i) => i.isFile, () => false))) {
      files.push({ path: entry.path, file: beside, ...known });
      continue;
    }
    const store = options.store;
    if (!store) {
      problems.push(`Cannot read debug bundle file "${entry.path}": no store is configured`);
      continue;
    }
    const local = store.localPath?.(entry.key);
    if (local) {
      if (await Deno.stat(local).then((i) => i.isFile, () => false)) {
        files.push({ path: entry.path, file: local, ...known });
      } else {problems.push(
          `Cannot read debug bundle file "${entry.path}": not in ${store.location}`,
        );}
      continue;
    }
    try {
      scratch ??= await makeTempDir("bundle", options.tempDir);
      const target = join(scratch, entry.key.slice(BUNDLE_PREFIX.length));
      await store.getFile(entry.key, target);
      files.push({ path: entry.path, file: target, ...known });
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  return {
    files,
    problems,
    close: async () => {
      if (scratch) await removeTempDir(scratch);
    },
  };
}

/**
 * Analyzes a core with the debug bundle it comes with, when it comes with one (see
 * {@linkcode bundleOfCore}); the bundle's stored files are read from the configured store.
 * Problems reaching them become warnings of the analysis.
 *
 * @throws {InputError} as {@linkcode analyzeCore} does.
 */
export async function analyzeWithBundle(
  path: string,
  options: AnalyzeOptions,
  config: Pick<Config, "storage" | "nodeName">,
): Promise<CoreAnalysis> {
  const manifest = options.exe === undefined ? await bundleOfCore(path) : undefined;
  if (!manifest) return await analyzeCore(path, options);
  let store: Store | undefined;
  const problems: string[] = [];
  try {
    store = openStore(config.storage, config.nodeName || Deno.hostname());
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  const bundle = await openBundle(manifest, {
    corePath: path,
    ...(store ? { store } : {}),
    ...(options.tempDir ? { tempDir: options.tempDir } : {}),
  });
  try {
    const analysis = await analyzeCore(path, { ...options, bundle: bundle.files });
    analysis.warnings.push(...problems, ...bundle.problems);
    return analysis;
  } finally {
    await bundle.close();
  }
}
