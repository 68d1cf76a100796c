/**
 * What a model may learn of a crash: a whitelist read out of the analysis, never the analysis
 * itself. Taken: the signal and crash reason, the crashing stack's functions, source lines
 * and module offsets, a line per other thread, the abort or Go panic message, the crash group
 * and how often it occurred, the instance, the container image, the restart history. Left
 * behind: frame arguments, registers, memory, addresses, the command line past the program's
 * name, the environment, the mapped files, anything from Kubernetes Secrets (the agent never
 * reads them). Every text is cut to a bound, so a context is small whatever the core holds.
 *
 * @module
 */
import { basename } from "node:path";
import { type CoreAnalysis, crashFrame, type Frame, frameLabel } from "../core/mod.ts";

/** One frame as a model sees it: no arguments, no absolute address. */
export interface ContextFrame {
  function?: string;
  file?: string;
  line?: number;
  /** The module's file name (not its path) and the pc's offset in it. */
  module?: string;
  offset?: string;
}

/** One of the other threads, in one line. */
export interface ContextThread {
  name?: string;
  /** Its first frame of the program, as `f() at a.c:3`. */
  at: string;
}

/** A restart of the crashed container, as the pod's status told it. */
export interface ContextRestart {
  at: string | null;
  exitCode: number | null;
  signal: number | null;
  /** The kubelet's one-word reason (`Error`, `OOMKilled`); never the termination message. */
  reason: string | null;
}

/** Everything the prompt is built from. */
export interface CrashContext {
  /** The program's name: the executable's file name, else the process name. */
  program: string | null;
  machine: string;
  signal: { name: string; number: number; description: string; faultAddress: string | null } | null;
  /** The signal the Go runtime turned into a panic. */
  goSignal: { name: string; description: string } | null;
  crashReason: string;
  /** glibc's abort message, or the Go runtime's panic or fatal error. */
  message: string | null;
  /** Whose frames `frames` holds. */
  stackOf: "thread" | "goroutine";
  /** The crashing stack, innermost first, from frame 0. */
  frames: ContextFrame[];
  /** Index in `frames` of the frame the crash is attributed to. */
  crashFrame: number;
  threadCount: number;
  otherThreads: ContextThread[];
  group: { fingerprint: string; basis: string[]; occurrences: number | null };
  instance: {
    name: string | null;
    kind: "helm" | "operator" | null;
    container: string | null;
    image: string | null;
  };
  restarts: ContextRestart[];
}

/** What the caller knows beyond the core: the group's count, the pod, the restarts. */
export interface ContextFacts {
  occurrences?: number;
  instance?: string | null;
  kind?: "helm" | "operator" | null;
  container?: string | null;
  image?: string | null;
  restarts?: readonly ContextRestart[];
}

/** Bounds on what one context holds. */
const MAX = {
  text: 600,
  message: 2000,
  name: 300,
  path: 400,
  frames: 200,
  threads: 200,
  restarts: 20,
  basis: 10,
};

/** `text` cut to `max` characters, one line, or `undefined`. */
function cut(text: string | null | undefined, max: number): string | undefined {
  if (text === null || text === undefined) return undefined;
  const line = text.replace(/\s+/g, " ").trim();
  if (!line) return undefined;
  return line.length > max ? `${line.slice(0, max - 1)}\u2026` : line;
}

function contextFrame(frame: Frame): ContextFrame {
  const out: ContextFrame = {};
  const fn = cut(frame.function, MAX.name);
  if (fn) out.function = fn;
  const file = cut(frame.file, MAX.path);
  if (file) out.file = file;
  if (frame.line !== undefined && Number.isInteger(frame.line)) out.line = frame.line;
  if (frame.library) out.module = cut(basename(frame.library), MAX.name);
  if (frame.offset && /^0x[0-9a-f]+$/i.test(frame.offset)) out.offset = frame.offset;
  return out;
}

/**
 * Reads the context of a crash out of its analysis and what the caller knows.
 *
 * @example Usage
 * ```ts ignore
 * const context = crashContext(analysis, { occurrences: 3, instance: "prod" });
 * ```
 */
export function crashContext(analysis: CoreAnalysis, facts: ContextFacts = {}): CrashContext {
  const stack = analysis.stackTrace.slice(0, MAX.frames);
  const attributed = crashFrame(stack);
  const program = analysis.process.executable
    ? basename(analysis.process.executable)
    : analysis.process.name;
  const go = analysis.go;
  const message = analysis.abortMessage ??
    (go?.panicMessage ? `panic: ${go.panicMessage}` : null) ??
    (go?.fatalError ? `fatal error: ${go.fatalError}` : null);
  return {
    program: cut(program, MAX.name) ?? null,
    machine: cut(analysis.machine, 40) ?? "unknown",
    signal: analysis.signal
      ? {
        name: analysis.signal.name,
        number: analysis.signal.number,
        description: cut(analysis.signal.description, MAX.name) ?? "",
        faultAddress: analysis.signal.address,
      }
      : null,
    goSignal: go?.signal
      ? { name: go.signal.name, description: cut(go.signal.description, MAX.name) ?? "" }
      : null,
    crashReason: cut(analysis.crashReason, MAX.message) ?? "",
    message: cut(message, MAX.message) ?? null,
    stackOf: analysis.stackTraceOf,
    frames: stack.map(contextFrame),
    crashFrame: Math.max(0, attributed ? stack.indexOf(attributed) : 0),
    threadCount: analysis.threadCount,
    otherThreads: analysis.threads.filter((t) => !t.crashing).slice(0, MAX.threads).map((t) => {
      const frame = crashFrame(t.frames);
      const name = cut(t.name, MAX.name);
      return {
        ...(name ? { name } : {}),
        at: cut(frame ? frameLabel({ ...frame, args: undefined }) : "?", MAX.text) ?? "?",
      };
    }),
    group: {
      fingerprint: analysis.fingerprint.id,
      basis: analysis.fingerprint.basis.slice(0, MAX.basis).map((b) => cut(b, MAX.name) ?? ""),
      occurrences: facts.occurrences ?? null,
    },
    instance: {
      name: cut(facts.instance, MAX.name) ?? null,
      kind: facts.kind ?? null,
      container: cut(facts.container, MAX.name) ?? null,
      image: cut(facts.image, MAX.path) ?? null,
    },
    restarts: (facts.restarts ?? []).slice(-MAX.restarts).map((r) => ({
      at: r.at,
      exitCode: r.exitCode,
      signal: r.signal,
      reason: cut(r.reason, 60) ?? null,
    })),
  };
}
