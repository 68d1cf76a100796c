/**
 * Kata sandbox discovery from the filesystem, the source of truth as in kata-monitor: each
 * directory under a sandbox root (`/run/vc/sbs` for the Go runtime, `/run/kata` for the Rust
 * one) whose name is a valid id is a running sandbox, with its shim's monitor socket at
 * `<root>/<id>/shim-monitor.sock`.
 *
 * The roots are watched with `Deno.watchFs`, and listed again periodically to catch what the
 * events miss (an overflowed queue, a root created after the agent started: no watch can be
 * set on a directory that does not exist yet). Every event triggers a listing of all roots,
 * coalesced while one runs, so the state is always a listing, never a replay of events.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { after } from "../pool.ts";
import { errorMessage } from "../errors.ts";

/** The Kata runtime a sandbox runs under, from its root. */
export type ShimRuntime = "go" | "rust";

/** A running sandbox found on the filesystem. */
export interface Sandbox {
  /** The sandbox id (the containerd/CRI pod sandbox id, 64 hex digits in practice). */
  id: string;
  /** The sandbox root it was found under. */
  root: string;
  /** `<root>/<id>/shim-monitor.sock`. */
  socket: string;
  /** `go` under `/run/vc/sbs`, `rust` under `/run/kata`. */
  runtime: ShimRuntime;
  /** When the agent first saw it (milliseconds since the epoch). */
  firstSeen: number;
}

/** A change of the sandbox set. */
export interface SandboxEvent {
  type: "added" | "removed";
  sandbox: Sandbox;
}

/** What the scraper and the HTTP API need of sandbox discovery. */
export interface SandboxSource {
  /** The sandboxes now, sorted by id. */
  list(): Sandbox[];
  /** One sandbox by id. */
  get(id: string): Sandbox | undefined;
  /** Calls `listener` on every change; returns the function that unsubscribes. */
  subscribe(listener: (event: SandboxEvent) => void): () => void;
  /** Settles when the first listing is done. */
  readonly scanned: Promise<void>;
}

/** Options of {@linkcode SandboxDirectory}. */
export interface SandboxDirectoryOptions {
  /** The sandbox roots in order of preference (`kata.sandboxRoots`). */
  roots: readonly string[];
  /** How often every root is listed again, events or not; default 5 s. */
  rescanMs?: number;
  log: Logger;
  /** The clock for `firstSeen`; default `Date.now`. */
  now?: () => number;
}

const VALID_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/**
 * Whether `id` may be a sandbox id: 1 to 128 characters of letters, digits, `_`, `.` and
 * `-`, starting with a letter or digit (containerd's rule; kata ids are 64 hex digits). So
 * never `.`, `..`, a slash or a NUL: an id that passes is safe to join to a path. Every id
 * that comes from outside (directory names, HTTP queries) goes through this.
 *
 * @example Usage
 * ```ts
 * isValidSandboxId("6a2e22e6fffaf1dec63ddabf587ed56069b1809ba67a0d7872fc470528364e66"); // true
 * isValidSandboxId("../etc"); // false
 * ```
 */
export function isValidSandboxId(id: string): boolean {
  return VALID_ID.test(id);
}

/**
 * The runtime of a root: by its path's end (so `/host/run/vc/sbs` works in a container),
 * else by position, the first root being the Go runtime's as in the defaults.
 */
export function runtimeOfRoot(root: string, index: number): ShimRuntime {
  const path = root.replace(/\/+$/, "");
  if (path.endsWith("/vc/sbs")) return "go";
  if (path.endsWith("/kata")) return "rust";
  return index === 0 ? "go" : "rust";
}

/**
 * The sandboxes under the configured roots, kept current until `run`'s signal aborts. When
 * an id exists under several roots the first root in the configured order wins (the
 * defaults put `/run/vc/sbs` first, kata-monitor's order).
 *
 * @example Usage
 * ```ts
 * const sandboxes = new SandboxDirectory({ roots: ["/run/vc/sbs", "/run/kata"], log });
 * sandboxes.subscribe((e) => log.info(`sandbox ${e.type}`, { id: e.sandbox.id }));
 * const running = sandboxes.run(signal);
 * await sandboxes.scanned;
 * ```
 */
export class SandboxDirectory implements SandboxSource {
  readonly #options: SandboxDirectoryOptions;
  readonly #now: () => number;
  readonly #sandboxes = new Map<string, Sandbox>();
  /** The ids found under each root at its last successful listing. */
  readonly #byRoot = new Map<string, Set<string>>();
  /** Watches by root, with the root's inode: a root removed and made again needs a new one. */
  readonly #watchers = new Map<string, { watcher: Deno.FsWatcher; ino: number | null }>();
  readonly #watchLoops = new Set<Promise<void>>();
  #running = false;
  readonly #listeners = new Set<(event: SandboxEvent) => void>();
  #scanning: Promise<void> | undefined;
  #again = false;
  #wake: (() => void) | undefined;
  #markScanned!: () => void;
  /** Settles when the first listing is done. */
  readonly scanned: Promise<void>;
  /** Counters for the agent's own metrics and tests. */
  readonly stats = { scans: 0, events: 0 };

  /** Creates the directory; nothing is read before {@linkcode scan} or {@linkcode run}. */
  constructor(options: SandboxDirectoryOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.scanned = new Promise((resolve) => this.#markScanned = resolve);
  }

  /** The sandboxes now, sorted by id. */
  list(): Sandbox[] {
    return [...this.#sandboxes.values()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  /** The number of sandboxes now. */
  get size(): number {
    return this.#sandboxes.size;
  }

  /** One sandbox by id; `undefined` for an unknown or invalid id. */
  get(id: string): Sandbox | undefined {
    return this.#sandboxes.get(id);
  }

  /** Calls `listener` for every sandbox added or removed; returns the unsubscribe function. */
  subscribe(listener: (event: SandboxEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Keeps the set current until `signal` aborts; then closes every watch. */
  async run(signal: AbortSignal): Promise<void> {
    const rescanMs = this.#options.rescanMs ?? 5000;
    if (this.#running) throw new Error("SandboxDirectory.run() is already running");
    this.#running = true;
    try {
      while (!signal.aborted) {
        await this.scan();
        if (signal.aborted) break;
        await new Promise<void>((resolve) => {
          const done = () => {
            cancel();
            signal.removeEventListener("abort", done);
            this.#wake = undefined;
            resolve();
          };
          const cancel = after(rescanMs, done);
          signal.addEventListener("abort", done, { once: true });
          this.#wake = done;
          if (this.#again) done();
        });
      }
    } finally {
      this.#running = false;
      await this.#scanning;
      for (const { watcher } of this.#watchers.values()) watcher.close();
      this.#watchers.clear();
      await Promise.all([...this.#watchLoops]);
    }
  }

  /**
   * Lists every root now and applies the differences (starting watches on roots that
   * appeared). Concurrent calls share one listing, and a call during a listing runs one more.
   */
  scan(): Promise<void> {
    if (this.#scanning) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      try {
        do {
          this.#again = false;
          await this.#scanOnce();
        } while (this.#again);
      } finally {
        this.#scanning = undefined;
        this.#markScanned();
      }
    })();
    return this.#scanning;
  }

  async #scanOnce(): Promise<void> {
    this.stats.scans++;
    const { roots, log } = this.#options;
    for (const root of roots) {
      const ids = new Set<string>();
      try {
        for await (const entry of Deno.readDir(root)) {
          // Symlinks are not followed: a sandbox directory is a real directory.
          if (entry.isDirectory && isValidSandboxId(entry.name)) ids.add(entry.name);
        }
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) {
          this.#byRoot.delete(root);
          this.#unwatch(root);
        } else {
          // Keep what the root held: a transient error must not look like every pod gone.
          log.warn("cannot list a Kata sandbox root", {
            path: root,
            error: errorMessage(error),
          });
        }
        continue;
      }
      this.#byRoot.set(root, ids);
      if (this.#running) await this.#watch(root);
    }

    const wanted = new Map<string, { root: string; index: number }>();
    roots.forEach((root, index) => {
      for (const id of this.#byRoot.get(root) ?? []) {
        if (!wanted.has(id)) wanted.set(id, { root, index });
      }
    });
    for (const [id, sandbox] of [...this.#sandboxes]) {
      if (wanted.get(id)?.root !== sandbox.root) {
        this.#sandboxes.delete(id);
        log.info("Kata sandbox gone", { sandbox: id, root: sandbox.root });
        this.#emit({ type: "removed", sandbox });
      }
    }
    for (const [id, { root, index }] of wanted) {
      if (this.#sandboxes.has(id)) continue;
      const sandbox: Sandbox = {
        id,
        root,
        socket: `${root.replace(/\/+$/, "")}/${id}/shim-monitor.sock`,
        runtime: runtimeOfRoot(root, index),
        firstSeen: this.#now(),
      };
      this.#sandboxes.set(id, sandbox);
      log.info("Kata sandbox found", { sandbox: id, root });
      this.#emit({ type: "added", sandbox });
    }
  }

  #emit(event: SandboxEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#options.log.error("a sandbox listener failed", {
          error: errorMessage(error),
        });
      }
    }
  }

  /** Asks `run` for a listing now. */
  #requestScan(): void {
    if (!this.#running) return;
    this.#again = true;
    if (this.#wake) this.#wake();
    else if (!this.#scanning) this.scan().catch(() => {});
  }

  /** Starts a watch on `root`, or replaces one that watches a removed incarnation of it. */
  async #watch(root: string): Promise<void> {
    let ino: number | null = null;
    try {
      ino = (await Deno.stat(root)).ino;
    } catch {
      return;
    }
    const known = this.#watchers.get(root);
    if (known && known.ino === ino) return;
    this.#unwatch(root);
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(root, { recursive: false });
    } catch {
      return; // The periodic listing still covers this root.
    }
    const entry = { watcher, ino };
    this.#watchers.set(root, entry);
    const loop = (async () => {
      try {
        for await (const _event of watcher) {
          this.stats.events++;
          this.#requestScan();
        }
      } catch {
        // The root went away: a listing notices, and starts a new watch when it is back.
      }
      if (this.#watchers.get(root) === entry) {
        this.#watchers.delete(root);
        this.#requestScan();
      }
    })();
    this.#watchLoops.add(loop);
    loop.finally(() => this.#watchLoops.delete(loop));
  }

  #unwatch(root: string): void {
    const known = this.#watchers.get(root);
    if (!known) return;
    this.#watchers.delete(root);
    try {
      known.watcher.close();
    } catch {
      // Already closed.
    }
  }
}
