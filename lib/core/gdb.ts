/**
 * Runs gdb on a core without a shell and without trusting anything the core or the
 * executable carries: `-nx -batch`, auto-loading off (no scripts from the binary's
 * `.debug_gdb_scripts` or its directory), debuginfod off, a timeout and a cap on the
 * output kept.
 *
 * @module
 */
import { makeTempDir, removeTempDir, trackChild } from "../lifecycle.ts";
import { after } from "../pool.ts";
import { sectionMarker } from "./gdb_parse.ts";
import { mayBeGo } from "./_go_elf.ts";

/** How to run gdb. */
export interface GdbOptions {
  /** gdb executable (a name looked up in PATH, or a path). */
  gdbPath: string;
  /** Kill gdb after this many milliseconds. */
  timeoutMs: number;
  /** Keep at most this many bytes of gdb's stdout; the rest is read and dropped. */
  maxOutputBytes: number;
  /** Where gdb's scripts are written for the run; default the system's temporary directory. */
  tempDir?: string;
  /**
   * More settings, run before the files are loaded: where to find the modules' files and
   * their debug info (`set sysroot`, `set solib-search-path`, `set debug-file-directory`).
   */
  settings?: readonly string[];
}

/** What one gdb run produced. */
export interface GdbRun {
  stdout: string;
  /** The first lines gdb wrote to stderr (warnings), capped. */
  stderr: string;
  exitCode: number | null;
  timedOut: boolean;
  /** Whether stdout was longer than `maxOutputBytes`. */
  truncated: boolean;
  durationMs: number;
}

/** The commands run, each preceded by a marker so their outputs can be told apart. */
export const GDB_COMMANDS: ReadonlyArray<readonly [section: string, command: string]> = [
  ["threads", "thread apply all bt"],
  // glibc (2.27+) keeps the assertion or malloc-check message in `__abort_msg`
  // (a `struct abort_msg_s { unsigned size; char msg[]; }`), so the text sits 4 bytes in.
  ["abort", "x/s *(char **)&__abort_msg + 4"],
  ["libs", "info sharedlibrary"],
  ["regs", "info registers"],
];

/**
 * Go programs: the goroutine that was running on the crashing thread (`m.curg`) holds
 * what the core's own signal hides once the Go runtime has turned a fault into a panic and
 * aborted: the original signal, fault address and pc (`sig`, `sigcode0`, `sigcode1`,
 * `sigpc`), and its stack, reachable by frame pointers from `sched.bp`. A fault in C code
 * called through cgo is recorded in the thread's `g0` instead. amd64 keeps the
 * current g at `fs_base - 8`. Sourced as a file of its own: for a program without the Go
 * runtime its first command fails and gdb skips the rest of this file only.
 */
export const GO_GOROUTINE_SCRIPT = `set language c
set listsize 1
echo \\n${sectionMarker("go")}\\n
set $agent_g = *(long *)($fs_base - 8)
set $agent_cg = (('runtime.g' *)$agent_g)->m->curg
set $agent_g0 = (('runtime.g' *)$agent_g)->m->g0
printf "goid=%d sig=%d code=%d addr=0x%lx pc=0x%lx\\n", $agent_cg->goid, $agent_cg->sig, $agent_cg->sigcode0, $agent_cg->sigcode1, $agent_cg->sigpc
printf "g0 sig=%d code=%d addr=0x%lx pc=0x%lx\\n", $agent_g0->sig, $agent_g0->sigcode0, $agent_g0->sigcode1, $agent_g0->sigpc
set $agent_sg = $agent_cg
if $agent_cg->sig == 0
  set $agent_sg = $agent_g0
end
list *$agent_sg->sigpc
echo \\n${sectionMarker("gostack")}\\n
list *$agent_cg->sched.pc
set $agent_bp = $agent_cg->sched.bp
set $agent_i = 0
while $agent_bp != 0 && $agent_i < 256
  list *(*(long *)($agent_bp + 8) - 1)
  set $agent_bp = *(long *)$agent_bp
  set $agent_i = $agent_i + 1
end
`;

/**
 * The message of a Go panic whose value is a string (or an error whose dynamic type is a
 * string kind, like the runtime's `errorString`). A file of its own so that a Go runtime
 * whose type layout differs loses only the message. The kind byte is read by its offset
 * (23: after size, ptrdata, hash, tflag, align and fieldAlign), which Go 1.19's
 * `runtime._type.kind` and Go 1.21+'s `internal/abi.Type.Kind_` share while the field's
 * name differs.
 */
export const GO_PANIC_SCRIPT = `set language c
echo \\n${sectionMarker("gopanic")}\\n
set $agent_arg = (('runtime.g' *)(*(long *)($fs_base - 8)))->m->curg->_panic->arg
if (*(unsigned char *)((char *)$agent_arg._type + 23) & 31) == 24
  p *(char *)((long *)$agent_arg.data)[0]@((long *)$agent_arg.data)[1]
end
`;

/**
 * Go 1.21+ no longer records a fault in C code called through cgo in `g0`: the runtime goes
 * straight to its crash path. The signal is then still an argument of the handler's frame
 * on the crashing thread: the outermost `runtime.sigtrampgo` whose `sig` is neither 0 nor
 * SIGABRT (the runtime's own abort) holds it, with `info` (the siginfo: `si_code` at byte
 * 8, `si_addr` at 16) and `ctx` (the ucontext: amd64's `rip` at byte 168). The loop ends
 * with an error at the last frame, which ends this file only.
 */
export const GO_THREAD_SIGNAL_SCRIPT = `set language c
echo \\n${sectionMarker("gosignal")}\\n
set $agent_i = 0
set $agent_found = 0
while $agent_i < 256 && $agent_found == 0
  select-frame level $agent_i
  if $_caller_is("runtime.sigtrampgo", 0)
    if sig != 0 && sig != 6
      set $agent_found = 1
      printf "thread sig=%d code=%d addr=0x%lx pc=0x%lx\\n", sig, ((int *)info)[2], ((long *)info)[2], ((long *)ctx)[21]
      list *((long *)ctx)[21]
    end
  end
  set $agent_i = $agent_i + 1
end
`;

/**
 * The message of a fatal error the Go runtime threw (`fatal error: concurrent map writes`):
 * `runtime.throw` and `runtime.fatal` (Go 1.19+) print it from a closure run on the system
 * stack, and that closure, whose first word is its code pointer (`runtime.fatal.func1`,
 * `runtime.throw.func1`), still lies in the throwing frame on the goroutine's stack. The
 * string follows among the words it captured, in an order that differs between Go versions:
 * the first (pointer, length) pair that looks like a string is taken. One file per function:
 * a runtime without one loses only that search.
 */
export function goThrowScript(closure: string): string {
  return `set language c
set print elements 4096
echo \\n${sectionMarker("gothrow")}\\n
set $agent_cg = (('runtime.g' *)(*(long *)($fs_base - 8)))->m->curg
find /g /1 $agent_cg->sched.sp, $agent_cg->stack.hi - 8, (long)&'${closure}'
if $numfound > 0
  set $agent_w = (long *)$_
  set $agent_i = 1
  set $agent_done = 0
  while $agent_i < 4 && $agent_done == 0
    if $agent_w[$agent_i] > 65536 && $agent_w[$agent_i + 1] > 0 && $agent_w[$agent_i + 1] <= 4096
      p *(char *)$agent_w[$agent_i]@$agent_w[$agent_i + 1]
      set $agent_done = 1
    end
    set $agent_i = $agent_i + 1
  end
end
`;
}

/**
 * Builds gdb's argument list. Every setting that could run code from the core or the
 * binary is turned off before the files are loaded (`-iex`).
 *
 * @example Usage
 * ```ts
 * const args = gdbArguments("/bin/app", "/tmp/core");
 * args.includes("-nx"); // true
 * ```
 */
export function gdbArguments(
  exe: string,
  core: string,
  scripts: string[] = [],
  settings: readonly string[] = [],
): string[] {
  const args = [
    "-nx",
    "-batch",
    "-iex",
    "set auto-load off",
    "-iex",
    "set debuginfod enabled off",
    "-iex",
    "set pagination off",
    "-iex",
    "set width 0",
    "-iex",
    "set height 0",
    "-iex",
    "set confirm off",
    "-iex",
    "set print thread-events off",
  ];
  for (const setting of settings) args.push("-iex", setting);
  for (const [section, command] of GDB_COMMANDS) {
    args.push("-ex", `echo \\n${sectionMarker(section)}\\n`, "-ex", command);
  }
  for (const script of scripts) args.push("-x", script);
  // Named options, not positional arguments: a core named like a number would otherwise be
  // taken for a process id to attach to, and a name starting with "-" for an option.
  args.push(`--se=${exe}`, `--core=${core}`);
  return args;
}

/**
 * Runs gdb on `exe` and `core` and collects its output.
 *
 * @throws {Deno.errors.NotFound} when the gdb executable does not exist.
 */
export async function runGdb(exe: string, core: string, options: GdbOptions): Promise<GdbRun> {
  const key = runKey(exe, core, options);
  const early = prestarted;
  prestarted = undefined;
  if (early?.key === key) return await early.run;
  if (early) await stopRun(early);
  return await startGdb(exe, core, options);
}

/** A gdb run started before anyone asked for it, with what it was started on. */
let prestarted: { key: string; run: Promise<GdbRun>; stop: AbortController } | undefined;

function runKey(exe: string, core: string, options: GdbOptions): string {
  const { gdbPath, timeoutMs, maxOutputBytes, tempDir, settings } = options;
  return JSON.stringify([exe, core, gdbPath, timeoutMs, maxOutputBytes, tempDir, settings ?? []]);
}

/**
 * Starts gdb on `exe` and `core` now, for a {@linkcode runGdb} expected later with exactly
 * these arguments and options: that call then takes this run instead of starting its own,
 * and gdb's seconds overlap whatever comes before it (a command's start-up). Any other
 * call, and {@linkcode discardPrestartedGdb}, kills it; its output is never used. Resolves
 * once gdb is running (or failed to start).
 */
export function prestartGdb(exe: string, core: string, options: GdbOptions): Promise<void> {
  prestarted?.stop.abort();
  const stop = new AbortController();
  const spawned = Promise.withResolvers<void>();
  const run = startGdb(exe, core, options, stop.signal, spawned.resolve);
  // Not taken, its failure (gdb not found) is nobody's: the taker sees it otherwise.
  run.catch(() => {}).finally(spawned.resolve);
  prestarted = { key: runKey(exe, core, options), run, stop };
  return spawned.promise;
}

/** Kills a gdb run started by {@linkcode prestartGdb} that nothing took; resolves once gone. */
export async function discardPrestartedGdb(): Promise<void> {
  const early = prestarted;
  prestarted = undefined;
  if (early) await stopRun(early);
}

async function stopRun(run: { run: Promise<GdbRun>; stop: AbortController }): Promise<void> {
  run.stop.abort();
  await run.run.catch(() => {});
}

async function startGdb(
  exe: string,
  core: string,
  options: GdbOptions,
  signal?: AbortSignal,
  onSpawn?: () => void,
): Promise<GdbRun> {
  const started = performance.now();
  // The Go scripts' first command looks up a Go type, which costs a search of every
  // library's debug info when there is none: a program that is not Go goes without them.
  if (!(await mayBeGo(exe))) {
    signal?.throwIfAborted();
    const args = gdbArguments(exe, core, [], options.settings);
    return await spawnGdb(args, options, started, signal, onSpawn);
  }
  const scripts = await makeTempDir("gdb", options.tempDir);
  try {
    const files: [string, string][] = [
      ["goroutine.gdb", GO_GOROUTINE_SCRIPT],
      ["panic.gdb", GO_PANIC_SCRIPT],
      ["signal.gdb", GO_THREAD_SIGNAL_SCRIPT],
      ["fatal.gdb", goThrowScript("runtime.fatal.func1")],
      ["throw.gdb", goThrowScript("runtime.throw.func1")],
    ];
    const paths = files.map(([name]) => `${scripts}/${name}`);
    for (const [name, text] of files) {
      await Deno.writeTextFile(`${scripts}/${name}`, text, { mode: 0o600 });
    }
    signal?.throwIfAborted();
    return await spawnGdb(
      gdbArguments(exe, core, paths, options.settings),
      options,
      started,
      signal,
      onSpawn,
    );
  } finally {
    await removeTempDir(scripts);
  }
}

async function spawnGdb(
  args: string[],
  options: GdbOptions,
  started: number,
  signal?: AbortSignal,
  onSpawn?: () => void,
): Promise<GdbRun> {
  const child = new Deno.Command(options.gdbPath, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      LC_ALL: "C",
      DEBUGINFOD_URLS: "",
      HOME: "/nonexistent",
    },
  }).spawn();
  const untrack = trackChild(child);
  onSpawn?.();
  let timedOut = false;
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  };
  const cancelTimeout = after(options.timeoutMs, () => {
    timedOut = true;
    kill();
  });
  signal?.addEventListener("abort", kill, { once: true });
  const stop = new AbortController();
  try {
    const output = Promise.all([
      readCapped(child.stdout, options.maxOutputBytes, stop.signal),
      readCapped(child.stderr, 64 * 1024, stop.signal),
    ]);
    const status = await child.status;
    // A process gdb started could hold its pipes open after gdb is gone: stop reading then.
    const grace = setTimeout(() => stop.abort(), PIPE_GRACE_MS);
    const [stdout, stderr] = await output.finally(() => clearTimeout(grace));
    return {
      stdout: stdout.text,
      stderr: stderr.text,
      exitCode: status.code,
      timedOut,
      truncated: stdout.truncated,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    cancelTimeout();
    signal?.removeEventListener("abort", kill);
    untrack();
  }
}

/** How long to keep reading gdb's pipes after it exited. */
const PIPE_GRACE_MS = 1000;

async function readCapped(
  stream: ReadableStream<Uint8Array>,
  max: number,
  signal: AbortSignal,
): Promise<{ text: string; truncated: boolean }> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let truncated = false;
  const reader = stream.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (kept >= max) {
        truncated = true;
        continue;
      }
      const piece = value.subarray(0, max - kept);
      if (piece.length < value.length) truncated = true;
      chunks.push(piece);
      kept += piece.length;
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
  const all = new Uint8Array(kept);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.length;
  }
  return { text: new TextDecoder().decode(all), truncated };
}
