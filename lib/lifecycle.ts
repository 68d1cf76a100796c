/**
 * How the process ends, in one place: errors nothing caught, termination signals, and what
 * must not outlive the process (temporary directories, child processes such as gdb).
 *
 * `main.ts` installs one listener for uncaught errors and one for SIGINT, SIGTERM and SIGHUP.
 * A one-shot command then removes its temporary directories, kills its children and exits
 * (130, 143, 129; 70 for an uncaught error, with one line instead of a stack trace). The
 * daemon, while it runs, takes both over: it logs and counts uncaught errors and goes on,
 * and stops gracefully on its own signal listeners. Temporary directories are named
 * `agent-KIND-PID-...`, so a later run sweeps those a killed process (SIGKILL) left.
 *
 * @module
 */
import { errorMessage, ExitCode, UnavailableError } from "./errors.ts";
import { processIsGone } from "./process.ts";

let keeper: ((error: unknown) => void) | undefined;
const temporaries = new Set<string>();
const children = new Set<Deno.ChildProcess>();

/** The signals that end a one-shot command, with the exit code each gives (128 + number). */
const EXIT_SIGNALS = {
  SIGHUP: ExitCode.HungUp,
  SIGINT: ExitCode.Interrupted,
  SIGTERM: ExitCode.Terminated,
} as const;

/**
 * Makes uncaught errors go to `handler`, and leaves termination signals to the caller's own
 * listeners, instead of ending the process; until the returned function is called.
 *
 * @example Usage
 * ```ts
 * const release = keepRunning((error) => console.error(error));
 * release();
 * ```
 */
export function keepRunning(handler: (error: unknown) => void): () => void {
  keeper = handler;
  return () => {
    if (keeper === handler) keeper = undefined;
  };
}

/** What {@linkcode installProcessHandlers} calls to end the process. */
export interface ProcessEnd {
  /** An uncaught error in a one-shot command: report it and end the process. */
  onFatal(error: unknown): void;
  /** A termination signal in a one-shot command: end the process with `code`. */
  onSignal(code: number): void;
}

/**
 * Installs the process-wide listeners for uncaught errors, unhandled rejections and
 * termination signals. Returns a function that removes them.
 *
 * @example Usage
 * ```ts ignore
 * installProcessHandlers({ onFatal: () => Deno.exit(70), onSignal: (code) => Deno.exit(code) });
 * ```
 */
export function installProcessHandlers(end: ProcessEnd): () => void {
  const listener = (event: ErrorEvent | PromiseRejectionEvent) => {
    event.preventDefault();
    const error = "reason" in event ? event.reason : event.error;
    if (keeper) return keeper(error);
    cleanUpSync();
    end.onFatal(error);
  };
  globalThis.addEventListener("error", listener);
  globalThis.addEventListener("unhandledrejection", listener);
  const signals = Object.entries(EXIT_SIGNALS).map(([name, code]) => {
    const onSignal = () => {
      if (keeper) return;
      cleanUpSync();
      end.onSignal(code);
    };
    Deno.addSignalListener(name as Deno.Signal, onSignal);
    return [name as Deno.Signal, onSignal] as const;
  });
  return () => {
    globalThis.removeEventListener("error", listener);
    globalThis.removeEventListener("unhandledrejection", listener);
    for (const [name, onSignal] of signals) Deno.removeSignalListener(name, onSignal);
  };
}

/** Kills the children still running and removes the temporary directories, at once. */
export function cleanUpSync(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }
  children.clear();
  for (const path of temporaries) {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch {
      // Gone already, or not ours to remove any more.
    }
  }
  temporaries.clear();
}

/**
 * Creates a temporary directory `agent-KIND-PID-...` in `parent` (default the system's)
 * that is removed if the process is stopped by a signal.
 *
 * @throws {UnavailableError} naming the directory and why, when it cannot be made there.
 *
 * @example Usage
 * ```ts ignore
 * const dir = await makeTempDir("core");
 * await removeTempDir(dir);
 * ```
 */
export async function makeTempDir(kind: string, parent?: string): Promise<string> {
  let path: string;
  try {
    path = await Deno.makeTempDir({
      ...(parent ? { dir: parent } : {}),
      prefix: `agent-${kind}-${Deno.pid}-`,
    });
  } catch (error) {
    // A read-only root filesystem without a writable /tmp, a missing or full directory.
    const where = parent ?? Deno.env.get("TMPDIR") ?? "/tmp";
    const reason = errorMessage(error).replace(/ \(os error \d+\).*$/s, "").toLowerCase();
    throw new UnavailableError(
      `Cannot make a temporary directory in "${where}" (analyzer.tempDir): ${reason}`,
      { cause: error },
    );
  }
  temporaries.add(path);
  return path;
}

/** Removes a directory made by {@linkcode makeTempDir}. */
export async function removeTempDir(path: string): Promise<void> {
  temporaries.delete(path);
  await Deno.remove(path, { recursive: true }).catch(() => {});
}

/**
 * Removes the `agent-KIND-PID-...` directories in `parent` (default the system's temporary
 * directory) whose process is gone: what a killed run left. Returns how many.
 *
 * @example Usage
 * ```ts ignore
 * await sweepTempDirs(); // 0
 * ```
 */
export async function sweepTempDirs(
  parent: string = defaultTempDir(),
  isGone: (pid: number) => Promise<boolean> = processIsGone,
): Promise<number> {
  let removed = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(parent));
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const pid = /^agent-[a-z]+-(\d+)-/.exec(entry.name)?.[1];
    if (!entry.isDirectory || pid === undefined || Number(pid) === Deno.pid) continue;
    if (!(await isGone(Number(pid)))) continue;
    await Deno.remove(`${parent}/${entry.name}`, { recursive: true }).then(
      () => removed++,
      () => {},
    );
  }
  return removed;
}

function defaultTempDir(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

/**
 * Tracks a child process so that a signal ending this process kills it too; returns the
 * function that stops tracking it.
 *
 * @example Usage
 * ```ts ignore
 * const untrack = trackChild(new Deno.Command("gdb").spawn());
 * ```
 */
export function trackChild(child: Deno.ChildProcess): () => void {
  children.add(child);
  return () => children.delete(child);
}
