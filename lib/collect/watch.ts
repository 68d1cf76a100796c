/**
 * Watches the core directories and hands over each core once it is complete: its size and
 * modification time have not changed for the settle interval, and no process holds it open
 * (where `fuser` can tell). File events come from `Deno.watchFs`; a periodic rescan catches
 * what the events miss (overflow, a directory mounted late, an agent started after the
 * crash). A directory that does not exist yet is picked up when it appears.
 *
 * Only regular files whose names look like cores are considered; hidden files (`.#core...`,
 * systemd-coredump's temporary names, and the agent's own `.part` files) and symlinks never.
 *
 * @module
 */
import { basename } from "node:path";
import type { Logger } from "../log.ts";
import { isOpenByAnyProcess } from "./_host.ts";
import { parseCoreName } from "./names.ts";
import { sleep } from "../pool.ts";
import { errorMessage } from "../errors.ts";

/** What {@linkcode CoreWatcher} needs. */
export interface WatchOptions {
  paths: readonly string[];
  /** File name templates (`collector.fileNamePatterns`). */
  patterns: readonly string[];
  settleMs: number;
  rescanMs: number;
  log: Logger;
  /** Whether a file (by path and stat) needs nothing more: known to the index as finished. */
  isDone(path: string, info: Deno.FileInfo): boolean;
  /** Receives each complete core. Awaited: a slow consumer slows the hand-over, not memory. */
  onComplete(path: string): Promise<void>;
}

/**
 * Whether a file name looks like a core: a configured template or systemd's scheme matches,
 * or "core" is a word of it (`core`, `core.1234`, `app.core`, `core-q-0.zst`).
 */
export function looksLikeCore(name: string, patterns: readonly string[]): boolean {
  if (name.startsWith(".")) return false;
  if (parseCoreName(name, patterns)) return true;
  return /(^|[._-])core([._-]|$)/.test(name);
}

/**
 * Whether a directory entry cannot be opened by its name: the name is not valid UTF-8, so
 * Deno hands it over with U+FFFD in place of the bytes it could not decode, and no file has
 * that name.
 */
export async function isUnnamable(dir: string, name: string): Promise<boolean> {
  if (!name.includes("\uFFFD")) return false;
  try {
    await Deno.lstat(`${dir}/${name}`);
    return false;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

/** The message for a core whose name is not valid UTF-8. */
export function unnamableMessage(dir: string, name: string): string {
  return `Cannot collect "${dir}/${
    name.replaceAll("\uFFFD", "?")
  }": its file name is not valid UTF-8; rename it to collect it`;
}

interface Candidate {
  size: number;
  mtime: number;
  since: number;
}

/** The watcher; `run(signal)` until aborted. */
export class CoreWatcher {
  readonly #candidates = new Map<string, Candidate>();
  readonly #watchers = new Map<string, Deno.FsWatcher>();
  /** What was handed over, by path: size and mtime, so an unchanged file goes once. */
  readonly #handed = new Map<string, string>();
  /** Names already reported as not valid UTF-8, so each is reported once. */
  readonly #unnamable = new Set<string>();
  /** Counters for metrics. */
  readonly stats = { scans: 0, events: 0, handedOver: 0, unnamable: 0 };

  /** Creates a watcher. */
  constructor(readonly options: WatchOptions) {}

  /** Files seen but not complete yet. */
  get pending(): number {
    return this.#candidates.size;
  }

  /** Watches until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const tickMs = Math.max(50, Math.min(1000, this.options.settleMs / 2));
    let nextScan = 0;
    try {
      while (!signal.aborted) {
        if (Date.now() >= nextScan) {
          await this.scan();
          nextScan = Date.now() + this.options.rescanMs;
        }
        await this.#settle(signal);
        await sleep(tickMs, signal);
      }
    } finally {
      for (const watcher of this.#watchers.values()) watcher.close();
      this.#watchers.clear();
    }
  }

  /** Lists every directory (starting watches where missing) and notes core candidates. */
  async scan(): Promise<void> {
    this.stats.scans++;
    for (const root of this.options.paths) {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(root));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          this.options.log.warn("cannot list a core directory", {
            path: root,
            error: errorMessage(error),
          });
        }
        continue;
      }
      this.#watch(root);
      const present = new Set(entries.map((e) => `${root}/${e.name}`));
      for (const path of this.#handed.keys()) {
        if (path.startsWith(`${root}/`) && !present.has(path)) this.#handed.delete(path);
      }
      for (const entry of entries) {
        if (!entry.isFile || !looksLikeCore(entry.name, this.options.patterns)) continue;
        const path = `${root}/${entry.name}`;
        if (await isUnnamable(root, entry.name)) {
          if (!this.#unnamable.has(path)) {
            this.#unnamable.add(path);
            this.stats.unnamable++;
            this.options.log.warn(unnamableMessage(root, entry.name));
          }
          continue;
        }
        await this.#observe(path);
      }
    }
  }

  #watch(root: string): void {
    if (this.#watchers.has(root)) return;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(root, { recursive: false });
    } catch {
      return; // The rescan still covers this directory.
    }
    this.#watchers.set(root, watcher);
    (async () => {
      try {
        for await (const event of watcher) {
          for (const path of event.paths) {
            if (basename(path) && looksLikeCore(basename(path), this.options.patterns)) {
              this.stats.events++;
              await this.#observe(path);
            }
          }
        }
      } catch {
        // The directory went away: the next scan starts a new watch when it is back.
      }
      this.#watchers.delete(root);
    })();
  }

  async #observe(path: string): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch {
      this.#candidates.delete(path);
      return;
    }
    const mtime = info.mtime?.getTime() ?? 0;
    if (
      !info.isFile || this.#handed.get(path) === `${info.size}:${mtime}` ||
      this.options.isDone(path, info)
    ) {
      this.#candidates.delete(path);
      return;
    }
    const known = this.#candidates.get(path);
    if (!known || known.size !== info.size || known.mtime !== mtime) {
      this.#candidates.set(path, { size: info.size, mtime, since: Date.now() });
    }
  }

  async #settle(signal: AbortSignal): Promise<void> {
    for (const [path, candidate] of [...this.#candidates]) {
      if (signal.aborted) return;
      await this.#observe(path);
      const now = this.#candidates.get(path);
      if (!now || now !== candidate || Date.now() - now.since < this.options.settleMs) continue;
      if (await isOpenByAnyProcess(path)) {
        now.since = Date.now();
        continue;
      }
      this.#candidates.delete(path);
      this.#handed.set(path, `${now.size}:${now.mtime}`);
      this.stats.handedOver++;
      await this.options.onComplete(path);
    }
  }
}
