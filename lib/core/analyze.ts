/**
 * Explains a crash: reads the core's notes, runs gdb when it and the executable are
 * available, and joins both into one {@linkcode CoreAnalysis} with a one-sentence
 * crash reason. Without gdb or the executable the notes-only result is returned with
 * a warning saying what is missing.
 *
 * @module
 */
import { basename, join } from "./_posix.ts";
import type { Config } from "../config/mod.ts";
import { InputError } from "../errors.ts";
import { freeBytes } from "../disk.ts";
import { makeTempDir, removeTempDir } from "../lifecycle.ts";
import { decompressFile, describeFsError } from "./_source.ts";
import {
  type CoreNotes,
  type CoreThread,
  type LoadSegment,
  type MappedFile,
  readBuildIds,
  readCoreNotes,
} from "./elf_core.ts";
import { discardPrestartedGdb, type GdbOptions, runGdb } from "./gdb.ts";
import { fileIdentity } from "./build_id.ts";
import { type DebuginfodOptions, fetchDebugInfo } from "./debuginfod.ts";
import {
  type BundleFile,
  makeView,
  type ModuleSymbols,
  needsView,
  type ResolvedModule,
  resolveModules,
} from "./symbols.ts";
import { type GdbReport, type GoReport, parseGdbOutput, type SharedLibrary } from "./gdb_parse.ts";
import { crashFrame, type Frame, isProgramFrame } from "./frames.ts";
import { hasFaultAddress, signalCodeDescription, signalName } from "./signals.ts";
import { crashFingerprint, type Fingerprint } from "./fingerprint.ts";

export type { Frame, SharedLibrary };

/** The signal that ended the process, explained. */
export interface SignalInfo {
  number: number;
  name: string;
  /** `si_code`, or `null` when the core does not record it. */
  code: number | null;
  description: string;
  /** Faulting address (hex) for kernel-raised SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP. */
  address: string | null;
  /** Process that sent the signal (kill, tkill, sigqueue). */
  senderPid: number | null;
}

/** A thread of the crashed process. */
export interface ThreadInfo {
  /** Kernel thread id (LWP). */
  tid: number;
  /** gdb's thread number, when gdb ran. */
  gdbThread: number | null;
  name: string | null;
  crashing: boolean;
  pc: string;
  sp: string;
  frames: Frame[];
}

/** What the Go runtime recorded about the goroutine running on the crashing thread. */
export interface GoInfo {
  goroutine: number;
  /** The signal the runtime turned into a panic before aborting, or `null` for a plain panic. */
  signal: (Omit<SignalInfo, "senderPid"> & { pc: string }) | null;
  panicMessage: string | null;
  /** The message of a fatal error the runtime threw (`concurrent map writes`), else `null`. */
  fatalError: string | null;
}

/** The result of `agent analyze core`. Field names are part of the JSON contract. */
export interface CoreAnalysis {
  file: string;
  /** Size of the file on disk. */
  sizeBytes: number;
  /** Size of the uncompressed core according to its program headers. */
  coreBytes: number;
  compression: "none" | "gzip" | "zstd" | "lz4";
  machine: string;
  /** Last modification of the core file: when the kernel finished writing it. */
  modifiedAt: string | null;
  signal: SignalInfo | null;
  process: {
    pid: number | null;
    name: string | null;
    commandLine: string | null;
    executable: string | null;
  };
  threadCount: number;
  crashReason: string;
  crashingThread: { tid: number; gdbThread: number | null };
  /**
   * Frames of the crashing thread, innermost first; for a Go program, of the goroutine it
   * was running (the thread's own frames are the runtime's abort path, kept in `threads`).
   */
  stackTrace: Frame[];
  /** Whose frames `stackTrace` holds: the crashing thread's, or its goroutine's. */
  stackTraceOf: "thread" | "goroutine";
  /** Message glibc recorded before aborting (failed assert, heap corruption). */
  abortMessage: string | null;
  threads: ThreadInfo[];
  mappedFiles: { start: string; end: string; offset: string; path: string }[];
  sharedLibraries: SharedLibrary[];
  /** Registers of the crashing thread, from gdb. */
  registers: Record<string, string>;
  /** Present for programs on the Go runtime when gdb could read the goroutine. */
  go: GoInfo | null;
  /** Crash group: the same signal and top frames give the same `id` across cores. */
  fingerprint: Fingerprint;
  /**
   * The executable and every shared library the core maps, with the build-id its first page
   * carries, how this host's file at that path compares, and whose symbols gdb was given.
   */
  buildIds: ModuleSymbols[];
  gdb: { used: boolean; durationMs: number | null; timedOut: boolean; truncated: boolean };
  warnings: string[];
}

/** Options of {@linkcode analyzeCore}. */
export interface AnalyzeOptions {
  /** Executable that produced the core; default: the path recorded in the core, if present here. */
  exe?: string;
  /** How to run gdb, or `false` for a notes-only analysis. */
  gdb: GdbOptions | false;
  /** Upper bound on the notes read into memory. */
  maxNoteBytes?: number;
  /** Directory for the decompressed copy gdb needs of a compressed core. */
  tempDir?: string;
  /**
   * Files copied from the crashed process's filesystem (a debug bundle): the executable and
   * libraries of a container, whose paths are not this host's.
   */
  bundle?: readonly BundleFile[];
  /** Fetch separate debug info by build-id; off when absent. */
  debuginfod?: DebuginfodOptions;
  /**
   * Read the modules' build-ids and compare them with this host's files (default true). Off,
   * the analysis is as before build-ids were read (no `buildIds`, no debug bundle): a
   * benchmark turns it off to measure what they cost.
   */
  buildIds?: boolean;
}

/**
 * Analyzes the core at `path`.
 *
 * @throws {InputError} when the core cannot be read or is not a supported ELF core, or when
 * `exe` is given and does not exist.
 *
 * @example Usage
 * ```ts ignore
 * const analysis = await analyzeCore("./core.1234", { gdb: false });
 * console.log(analysis.crashReason);
 * ```
 */
export async function analyzeCore(path: string, options: AnalyzeOptions): Promise<CoreAnalysis> {
  if (options.exe !== undefined) await requireFile(options.exe, "executable");
  const notes = await readCoreNotes(path, {
    maxNoteBytes: options.maxNoteBytes,
    buildIds: options.buildIds !== false,
  });
  const warnings: string[] = [];
  const modifiedAt = notes.modifiedAt?.toISOString() ?? null;
  const wantGdb = options.gdb !== false;
  const exe = options.exe ?? bundledExecutable(notes, options.bundle) ??
    await executableOnHost(notes.executable, warnings, wantGdb);
  let report: GdbReport | undefined;
  let modules: ResolvedModule[] | undefined;
  const gdb = { used: false, durationMs: null as number | null, timedOut: false, truncated: false };
  if (options.gdb !== false && exe) {
    const run = await runGdbOnCore(path, exe, notes, options, options.gdb, gdb, warnings);
    report = run.report;
    modules = run.modules;
  }
  // A gdb started ahead of the analysis for other arguments is of no use now.
  await discardPrestartedGdb();
  // Without gdb no symbols are at stake: this host's files are not opened to compare.
  modules ??= await modulesOf(notes, options, gdb.used);
  warnDifferentBuilds(modules, warnings);
  if (notes.complete === undefined) {
    warnings.push(
      `${notes.compression}-compressed core: only its notes were unpacked, completeness not verified`,
    );
  }
  const analysis = buildAnalysis(path, notes, report, gdb, modifiedAt, warnings);
  analysis.buildIds = modules.map((m) => ({
    path: m.path,
    buildId: m.buildId,
    host: m.host,
    symbols: gdb.used ? m.symbols : null,
  }));
  return analysis;
}

/** The core's modules resolved to the files gdb reads, unless build-ids are off. */
async function modulesOf(
  notes: CoreNotes,
  options: AnalyzeOptions,
  compareHost = true,
): Promise<ResolvedModule[]> {
  return options.buildIds === false
    ? []
    : await resolveModules(notes.modules, options.bundle, compareHost);
}

/** The bundle's copy of the executable the core records, if the bundle has it. */
function bundledExecutable(
  notes: CoreNotes,
  bundle: readonly BundleFile[] | undefined,
): string | undefined {
  if (!bundle || !notes.executable) return undefined;
  const id = notes.modules.find((m) => m.path === notes.executable)?.buildId;
  return bundle.find((f) => id && f.buildId ? f.buildId === id : f.path === notes.executable)
    ?.file;
}

/** Says which of this host's files are other builds than the core's modules. */
function warnDifferentBuilds(modules: readonly ResolvedModule[], warnings: string[]): void {
  const different = modules.filter((m) => m.host === "different");
  if (different.length === 0) return;
  const what = different.every((m) => m.symbols === "bundle")
    ? "the debug bundle's copies are used"
    : different.length === 1
    ? "its symbols are not used"
    : "their symbols are not used";
  if (different.length === 1) {
    const [m] = different;
    warnings.push(
      `this host's "${m!.path}" is another build than the core's (build-id ${m!.buildId}): ${what}`,
    );
    return;
  }
  const shown = different.slice(0, 3).map((m) => `"${m.path}"`).join(", ");
  const more = different.length > 3 ? ` and ${different.length - 3} more` : "";
  warnings.push(`this host's ${shown}${more} are other builds than the core's: ${what}`);
}

async function requireFile(path: string, what: string): Promise<void> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new InputError(`Cannot use ${what} "${path}": not a regular file`);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`Cannot use ${what} "${path}": ${describeFsError(error)}`, {
      cause: error,
    });
  }
}

async function executableOnHost(
  recorded: string | undefined,
  warnings: string[],
  wantGdb: boolean,
): Promise<string | undefined> {
  if (!recorded) {
    if (wantGdb) {
      warnings.push("the core does not record its executable: pass --exe for a stack trace");
    }
    return undefined;
  }
  try {
    if ((await Deno.stat(recorded)).isFile) return recorded;
  } catch {
    // Falls through to the warning: the core usually comes from another mount namespace.
  }
  if (wantGdb) {
    warnings.push(`executable "${recorded}" is not on this host: pass --exe for a stack trace`);
  }
  return undefined;
}

async function runGdbOnCore(
  path: string,
  exe: string,
  notes: CoreNotes,
  options: AnalyzeOptions,
  gdbOptions: GdbOptions,
  gdb: CoreAnalysis["gdb"],
  warnings: string[],
): Promise<{ report?: GdbReport; modules: ResolvedModule[] }> {
  let corePath = path;
  let scratch: string | undefined;
  const tempDir = options.tempDir;
  try {
    if (notes.compression !== "none") {
      // Checked first: a compressed core unpacks to what its headers declare, and a full
      // disk would only fail gdb's run after filling it.
      const free = await freeBytes(tempDir ?? (Deno.env.get("TMPDIR") || "/tmp"));
      if (free !== undefined && free < notes.coreSize) {
        warnings.push(
          `not enough space to unpack the core for gdb (${notes.coreSize} bytes, ${free} free in the temporary directory): notes only`,
        );
        return { modules: await modulesOf(notes, options, false) };
      }
      scratch = await makeTempDir("core", tempDir);
      corePath = join(scratch, "core");
      const unpacked = await decompressFile(path, notes.compression, corePath, notes.coreSize);
      // Unpacked in full for gdb, the core can now be checked for completeness.
      if (unpacked.bytes < notes.coreSize) {
        throw new InputError(
          `Cannot read core "${path}": truncated inside the data: ${unpacked.bytes} of ${notes.coreSize} bytes present`,
        );
      }
      if (unpacked.more) {
        warnings.push(
          `the compressed data goes on past the ${notes.coreSize} bytes the program headers declare: the rest was not unpacked`,
        );
      }
      notes.complete = true;
      if (options.buildIds !== false) await readBuildIds(corePath, notes);
    }
    const modules = await modulesOf(notes, options);
    const exeModule = modules.find((m) => m.path === notes.executable);
    if (exeModule?.buildId) {
      const given = await fileIdentity(exe).catch(() => ({ buildId: undefined }));
      if (given.buildId && given.buildId !== exeModule.buildId) {
        // This host's file at the core's own path is named by the warning on other builds.
        if (exe !== exeModule.path) {
          warnings.push(
            `executable "${exe}" has build-id ${given.buildId}, the core's is ${exeModule.buildId}: its symbols are not used`,
          );
        }
        return { modules };
      }
      if (given.buildId) {
        exeModule.file = exe;
        exeModule.symbols = options.bundle?.some((f) => f.file === exe) ? "bundle" : "host";
      }
    }
    const settings: string[] = [];
    if (needsView(modules)) {
      scratch ??= await makeTempDir("core", tempDir);
      const view = await makeView(join(scratch, "view"), modules);
      settings.push(`set sysroot ${view.sysroot}`, `set solib-search-path ${view.searchPath}`);
    }
    if (options.debuginfod && options.debuginfod.urls.length > 0) {
      const wanted = modules.filter((m) => m.symbols !== null && m.buildId).map((m) => m.buildId!);
      const fetched = await fetchDebugInfo(wanted, options.debuginfod);
      warnings.push(...fetched.problems);
      settings.push(`set debug-file-directory ${fetched.directory}:/usr/lib/debug`);
    }
    const run = await runGdb(exe, corePath, { ...gdbOptions, tempDir, settings });
    gdb.used = true;
    gdb.durationMs = run.durationMs;
    gdb.timedOut = run.timedOut;
    gdb.truncated = run.truncated;
    if (run.timedOut) {
      warnings.push(`gdb timed out after ${gdbOptions.timeoutMs} ms: partial result`);
    }
    if (run.truncated) warnings.push(`gdb output cut at ${gdbOptions.maxOutputBytes} bytes`);
    if (/core file may not match specified executable/.test(run.stderr)) {
      warnings.push(`gdb: core file may not match executable "${exe}"`);
    }
    const report = parseGdbOutput(run.stdout);
    if (report.threads.length === 0 && !run.timedOut) {
      const reason = run.stderr.split("\n").find((l) =>
        l.trim() && !l.startsWith("warning: Section")
      );
      warnings.push(`gdb printed no backtrace${reason ? `: ${reason.trim()}` : ""}`);
    }
    if (settings.length > 0) renameLibraries(report, notes);
    return { report, modules };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      warnings.push(`gdb not found ("${gdbOptions.gdbPath}"): install gdb for a stack trace`);
      return { modules: await modulesOf(notes, options, false) };
    }
    throw error;
  } finally {
    if (scratch) await removeTempDir(scratch);
  }
}

/**
 * Names the libraries gdb loaded through the agent's view (links in a temporary directory)
 * by the paths the core gives them.
 */
function renameLibraries(report: GdbReport, notes: CoreNotes): void {
  for (const library of report.sharedLibraries) {
    if (!/^0x[0-9a-f]+$/i.test(library.from)) continue;
    const at = BigInt(library.from);
    const file = notes.files.find((f) => f.start <= at && at < f.end);
    if (file) library.path = file.path;
  }
}

function hex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

function buildAnalysis(
  path: string,
  notes: CoreNotes,
  report: GdbReport | undefined,
  gdb: CoreAnalysis["gdb"],
  modifiedAt: string | null,
  warnings: string[],
): CoreAnalysis {
  // Go executables keep a symbol for every Go function: what gdb cannot name there is the
  // runtime's assembly (its signal return trampoline), never the program's own code.
  const modules = new ModuleMap(
    notes.files,
    notes.segments,
    report?.go ? notes.executable : undefined,
  );
  const gdbByTid = new Map((report?.threads ?? []).map((t) => [t.tid, t]));
  const threads: ThreadInfo[] = notes.threads.map((t, i) => {
    const match = gdbByTid.get(t.tid) ??
      // Without libthread_db gdb may not print LWPs; a single thread still matches.
      (notes.threads.length === 1 && report?.threads.length === 1 ? report.threads[0] : undefined);
    const frames = locateFrames(match ? match.frames : notesFrames(t), modules, t.pc);
    return {
      tid: t.tid,
      gdbThread: match?.number ?? null,
      name: match?.name ?? null,
      crashing: i === 0,
      pc: hex(t.pc),
      sp: hex(t.sp),
      frames,
    };
  });
  const crashing = threads[0]!;
  const signal = notes.signal
    ? {
      number: notes.signal.number,
      name: signalName(notes.signal.number),
      code: notes.signal.code,
      description: signalCodeDescription(notes.signal.number, notes.signal.code),
      address: notes.signal.address !== undefined &&
          hasFaultAddress(notes.signal.number, notes.signal.code)
        ? hex(notes.signal.address)
        : null,
      senderPid: notes.signal.senderPid ?? null,
    }
    : null;
  const go = report?.go;
  const goInfo = go ? goSummary(go) : null;
  // gdb cannot unwind through the Go runtime's own signal trampoline: when the thread's
  // frames stop inside the abort machinery, the goroutine's frames tell where it crashed.
  const located = crashing.frames.some(isProgramFrame);
  const stackTraceOf = go && go.stack.length > 0 && !located ? "goroutine" : "thread";
  const stackTrace = go && stackTraceOf === "goroutine"
    ? goroutineStack(go, modules)
    : crashing.frames;
  const abortMessage = report?.abortMessage ?? null;
  const process = {
    pid: notes.process?.pid ?? notes.threads[0]?.tid ?? null,
    name: notes.process?.name ?? null,
    commandLine: notes.process?.commandLine ?? null,
    executable: notes.executable ?? null,
  };
  const analysis: CoreAnalysis = {
    file: path,
    sizeBytes: notes.fileSize,
    coreBytes: notes.coreSize,
    compression: notes.compression,
    machine: notes.machine,
    modifiedAt,
    signal,
    process,
    threadCount: threads.length,
    crashReason: crashReason(
      goInfo?.signal ?? signal,
      stackTrace,
      abortMessage ?? goPanic(goInfo),
      process.pid,
    ),
    crashingThread: { tid: crashing.tid, gdbThread: crashing.gdbThread },
    stackTrace,
    stackTraceOf,
    abortMessage,
    threads,
    mappedFiles: notes.files.map((f) => ({
      start: hex(f.start),
      end: hex(f.end),
      offset: hex(f.fileOffset),
      path: f.path,
    })),
    sharedLibraries: report?.sharedLibraries ?? [],
    registers: report?.registers ?? {},
    go: goInfo,
    fingerprint: { id: "", basis: [] },
    buildIds: [],
    gdb,
    warnings,
  };
  analysis.fingerprint = crashFingerprint(analysis);
  return analysis;
}

function goSummary(go: GoReport): GoInfo {
  return {
    goroutine: go.goroutine,
    signal: go.signal === 0 ? null : {
      number: go.signal,
      name: signalName(go.signal),
      code: go.code,
      description: signalCodeDescription(go.signal, go.code),
      address: hasFaultAddress(go.signal, go.code) ? go.address : null,
      pc: go.pc,
    },
    panicMessage: go.panicMessage ?? null,
    fatalError: go.fatalError ?? null,
  };
}

/** What the Go runtime printed before aborting, as it printed it. */
function goPanic(go: GoInfo | null): string | null {
  if (go?.panicMessage) return `panic: ${go.panicMessage}`;
  return go?.fatalError ? `fatal error: ${go.fatalError}` : null;
}

/**
 * The goroutine's frames. The caller of `runtime.sigpanic` is where the signal struck: its
 * location comes from `sigpc` itself, not from the return address gdb would step back from.
 */
function goroutineStack(go: GoReport, modules: ModuleMap): Frame[] {
  const frames = go.stack.map((frame, i) => {
    const previous = go.stack[i - 1];
    return previous?.function === "runtime.sigpanic" && go.fault ? go.fault : frame;
  });
  return locateFrames(frames.map((frame, index) => ({ ...frame, index })), modules);
}

/**
 * What the notes alone say of a thread's stack: its pc, and for a call through a null
 * pointer (pc 0) the return address the call left, where the bug is.
 */
function notesFrames(thread: CoreThread): Frame[] {
  const frames: Frame[] = [{ index: 0, address: hex(thread.pc) }];
  if (thread.callerPc !== undefined) frames.push({ index: 1, address: hex(thread.callerPc) });
  return frames;
}

/**
 * Finds which mapped file holds an address, the address's offset from that file's base, and
 * whether the address is code at all (in a mapping the core records as executable).
 */
class ModuleMap {
  readonly #bases = new Map<string, bigint>();
  constructor(
    private readonly files: MappedFile[],
    private readonly segments: LoadSegment[],
    private readonly fullySymbolized?: string,
  ) {
    for (const f of files) {
      const base = f.start - f.fileOffset;
      const known = this.#bases.get(f.path);
      if (known === undefined || base < known) this.#bases.set(f.path, base);
    }
  }

  lookup(address: bigint): { path: string; offset: bigint } | undefined {
    const file = this.files.find((f) => f.start <= address && address < f.end);
    if (!file) return undefined;
    return { path: file.path, offset: address - this.#bases.get(file.path)! };
  }

  /** Whether `address` lies in executable memory; `undefined` when the core does not say. */
  isCode(address: bigint): boolean | undefined {
    const segment = this.segments.find((s) => s.vaddr <= address && address < s.vaddr + s.memSize);
    if (segment) return (segment.flags & PF_X) !== 0;
    // The kernel lists every mapping as a segment; gdb's generate-core-file leaves out the
    // ones it does not dump (a file's code): an address in a mapped file may be code.
    return this.lookup(address) ? undefined : false;
  }

  /** Whether every function of `path` has a symbol gdb would have named. */
  isFullySymbolized(path: string): boolean {
    return path === this.fullySymbolized;
  }
}

/** `p_flags` bit of an executable segment. */
const PF_X = 1;

/**
 * Names each frame's module (the mapped file holding its pc, as the core records it, which
 * for a container is its path inside the container) and the pc's offset from the module's
 * load base. gdb omits the address of frame 0 when the pc starts a line, and of an inlined
 * frame: those run at the thread's pc and at the pc of the frame before.
 */
function locateFrames(frames: readonly Frame[], modules: ModuleMap, pc?: bigint): Frame[] {
  let previous = pc;
  const located: Frame[] = [];
  for (const [i, frame] of frames.entries()) {
    const at = frame.address !== undefined ? BigInt(frame.address) : i === 0 ? pc : previous;
    previous = at;
    // A return address outside executable memory is where gdb's unwinding went astray (a
    // frame it could not see through, the end of a Go stack): the frames from there are not
    // calls. Frame 0 stays whatever it is: a jump into data is a crash of its own.
    if (i > 0 && at !== undefined && modules.isCode(at) === false) break;
    const module = at === undefined ? undefined : modules.lookup(at);
    located.push(
      module && !(frame.function === undefined && modules.isFullySymbolized(module.path))
        ? { ...frame, library: module.path, offset: hex(module.offset) }
        : frame,
    );
  }
  return located;
}

function crashReason(
  signal:
    | Pick<SignalInfo, "name" | "description" | "address"> & { senderPid?: number | null }
    | null,
  frames: Frame[],
  abortMessage: string | null,
  pid: number | null,
): string {
  let text = signal
    ? `${signal.name} (${signal.description})`
    : "No signal recorded (the core may have been taken from a running process)";
  if (signal?.address) text += ` at ${signal.address}`;
  if (signal?.senderPid && signal.senderPid !== pid) text += ` from pid ${signal.senderPid}`;
  const frame = crashFrame(frames);
  if (frame?.function) {
    text += ` in ${frame.function}()`;
    if (frame.file) text += ` at ${basename(frame.file)}:${frame.line}`;
    else if (frame.library) text += ` from ${basename(frame.library)}`;
  } else if (frame?.address) {
    // gdb pads addresses to 16 digits, the notes do not: one core, one sentence.
    text += `, pc ${hex(BigInt(frame.address))}`;
    if (frame.library) text += ` in ${basename(frame.library)}+${frame.offset}`;
  }
  if (abortMessage) text += `: ${abortMessage.replace(/\s+/g, " ").trim()}`;
  return text;
}

/** Turns the configuration and the command's flags into analyzer options. */
export function analyzeOptions(
  config: Pick<Config, "analyzer" | "stateDir">,
  flags: { exe?: string; gdb?: boolean },
): AnalyzeOptions {
  const analyzer = config.analyzer;
  return {
    exe: flags.exe,
    gdb: flags.gdb === false || !analyzer.useGdb ? false : {
      gdbPath: analyzer.gdbPath,
      timeoutMs: analyzer.gdbTimeout,
      maxOutputBytes: analyzer.gdbMaxOutput,
    },
    maxNoteBytes: analyzer.maxNoteBytes,
    tempDir: analyzer.tempDir || undefined,
    ...(analyzer.debuginfodUrls.length > 0
      ? {
        debuginfod: {
          urls: analyzer.debuginfodUrls,
          cacheDir: join(config.stateDir, "debuginfod"),
          maxCacheBytes: analyzer.debuginfodCacheMaxBytes,
          timeoutMs: analyzer.debuginfodTimeout,
        },
      }
      : {}),
  };
}
