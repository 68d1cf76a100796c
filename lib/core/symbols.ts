/**
 * Where gdb takes each module's symbols from. A module (the executable or a shared library
 * the core maps) is read from a debug bundle when one holds it (the files copied from the
 * crashed process's own filesystem), else from this host's file at the same path, but only
 * when that file's build-id is the one in the core: a file that differs (another build, a
 * container's library shadowed by the host's) would give wrong names, so it is left out and
 * its frames are named `module+0xoffset`.
 *
 * When anything is left out or comes from a bundle, gdb gets a view of its own: a directory of
 * symbolic links as its `sysroot` (the files at the paths the core names) and its
 * `solib-search-path` (the files by base name and soname, the names the dynamic loader
 * recorded in the core).
 *
 * @module
 */
import { basename, dirname, join } from "./_posix.ts";
import type { CoreModule } from "./elf_core.ts";
import { fileIdentity } from "./build_id.ts";

/** A file of a debug bundle, on this host: the copy of `path` as the crashed process saw it. */
export interface BundleFile {
  /** The path inside the crashed process's filesystem. */
  path: string;
  /** Where the copy is here. */
  file: string;
  buildId?: string;
}

/** What the analysis says of a module's build-id and where its symbols came from. */
export interface ModuleSymbols {
  /** The path the core names. */
  path: string;
  /** The build-id in the core, or `null` when the core does not hold it. */
  buildId: string | null;
  /**
   * This host's file at that path: the `same` build-id, a `different` one (its symbols are not
   * used), `missing`, `unknown` (no build-id to compare, or unreadable), or `unchecked` (gdb
   * did not run, so no symbols were at stake).
   */
  host: "same" | "different" | "missing" | "unknown" | "unchecked";
  /** Whose symbols gdb was given: this host's file, the bundle's copy, or none. */
  symbols: "host" | "bundle" | null;
}

/** A module resolved to the file gdb reads, if any. */
export interface ResolvedModule extends ModuleSymbols {
  /** The local file with the module's symbols. */
  file?: string;
}

/** Compares this host's file at a module's path with the module. */
export async function hostState(
  path: string,
  buildId: string | undefined,
): Promise<ModuleSymbols["host"]> {
  try {
    const identity = await fileIdentity(path);
    if (!buildId || !identity.buildId) return "unknown";
    return identity.buildId === buildId ? "same" : "different";
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? "missing" : "unknown";
  }
}

/**
 * Resolves every module: the bundle's copy (same build-id, or same path when either has none),
 * else this host's file unless its build-id differs.
 */
export async function resolveModules(
  modules: readonly CoreModule[],
  bundle: readonly BundleFile[] = [],
  compareHost = true,
): Promise<ResolvedModule[]> {
  if (!compareHost && bundle.length === 0) {
    // Nothing to open or match: no promise per module.
    return modules.map((m) => ({
      path: m.path,
      buildId: m.buildId ?? null,
      host: "unchecked",
      symbols: "host",
      file: m.path,
    }));
  }
  return await Promise.all(modules.map(async (module) => {
    const host = compareHost ? await hostState(module.path, module.buildId) : "unchecked";
    const base = { path: module.path, buildId: module.buildId ?? null, host };
    const copy = bundle.find((f) =>
      module.buildId && f.buildId ? f.buildId === module.buildId : f.path === module.path
    );
    if (copy) return { ...base, symbols: "bundle" as const, file: copy.file };
    if (host === "same" || host === "unknown" || host === "unchecked") {
      // An unreadable or unidentifiable file is left to gdb, as before build-ids were read.
      return { ...base, symbols: "host" as const, file: module.path };
    }
    return { ...base, symbols: null };
  }));
}

/** Whether gdb needs a view of its own: something comes from a bundle or is left out. */
export function needsView(modules: readonly ResolvedModule[]): boolean {
  return modules.some((m) =>
    m.symbols === "bundle" || (m.symbols === null && m.host !== "missing")
  );
}

/** The gdb settings of a view: run before the files are loaded. */
export interface SymbolView {
  sysroot: string;
  searchPath: string;
}

/**
 * Lays out the view in `dir`: `root/PATH` and `libs/NAME` (base name and soname) link to each
 * module's file. Modules without a file are absent, so gdb loads nothing for them.
 */
export async function makeView(
  dir: string,
  modules: readonly ResolvedModule[],
): Promise<SymbolView> {
  const root = join(dir, "root");
  const libs = join(dir, "libs");
  await Deno.mkdir(root, { recursive: true });
  await Deno.mkdir(libs, { recursive: true });
  for (const module of modules) {
    const at = join(root, module.path);
    // A path the core names must not take a link out of the view.
    if (!module.file || !at.startsWith(`${root}/`)) continue;
    await Deno.mkdir(dirname(at), { recursive: true });
    await Deno.symlink(module.file, at).catch(() => {});
    let soname: string | undefined;
    try {
      soname = (await fileIdentity(module.file)).soname;
    } catch {
      // The link by base name is still made.
    }
    for (const name of new Set([basename(module.path), ...(soname ? [soname] : [])])) {
      await Deno.symlink(module.file, join(libs, name)).catch(() => {});
    }
  }
  return { sysroot: root, searchPath: libs };
}
