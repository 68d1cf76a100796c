/**
 * Parses the output of the gdb commands the analyzer runs (`thread apply all bt`,
 * `x/s` of glibc's `__abort_msg`, `info sharedlibrary`, `info registers`), split into
 * sections by marker lines the analyzer echoes between commands.
 *
 * @module
 */

import type { Frame } from "./frames.ts";

export type { Frame };

/** One thread's backtrace. */
export interface GdbThread {
  /** gdb's thread number. */
  number: number;
  /** Kernel thread id, when gdb printed one. */
  tid?: number;
  name?: string;
  frames: Frame[];
}

/** A shared library gdb loaded. */
export interface SharedLibrary {
  from: string;
  to: string;
  symbols: boolean;
  path: string;
}

/** What the Go runtime recorded in the goroutine running on the crashing thread. */
export interface GoReport {
  goroutine: number;
  /** The signal the runtime turned into a panic (0 when the panic was not a signal). */
  signal: number;
  code: number;
  /** `sigcode1`: the fault address for SIGSEGV and SIGBUS. */
  address: string;
  /** `sigpc`: where the signal struck. */
  pc: string;

  /** Source location of `pc`. */
  fault?: Frame;
  /** The goroutine's frames from its saved frame pointer, innermost first. */
  stack: Frame[];
  panicMessage?: string;
  /** The message of a fatal error the runtime threw (`concurrent map writes`). */
  fatalError?: string;
}

/** Everything parsed from one gdb run. */
export interface GdbReport {
  threads: GdbThread[];
  /** The thread gdb selected on load (`Current thread is N`). */
  currentThread?: number;
  abortMessage?: string;
  sharedLibraries: SharedLibrary[];
  registers: Record<string, string>;
  /** Present when the program runs on the Go runtime. */
  go?: GoReport;
}

/** Marker line that precedes each command's output. */
export function sectionMarker(name: string): string {
  return `@@agent:${name}@@`;
}

/**
 * Parses gdb's stdout into a {@linkcode GdbReport}. Never throws: unknown lines are ignored.
 *
 * @example Usage
 * ```ts
 * const report = parseGdbOutput("@@agent:threads@@\nThread 1 (LWP 7):\n#0  0x1 in f () at a.c:3\n");
 * report.threads[0]?.frames[0]?.function; // "f"
 * ```
 */
export function parseGdbOutput(text: string): GdbReport {
  const sections = splitSections(text);
  const preamble = sections.get("") ?? "";
  const current = /\[Current thread is (\d+)/.exec(preamble);
  const report: GdbReport = {
    threads: parseThreads(sections.get("threads") ?? ""),
    sharedLibraries: parseSharedLibraries(sections.get("libs") ?? ""),
    registers: parseRegisters(sections.get("regs") ?? ""),
  };
  if (current) report.currentThread = Number(current[1]);
  const abortMessage = parseExamineString(sections.get("abort") ?? "");
  if (abortMessage) report.abortMessage = abortMessage;
  const go = parseGo(
    sections.get("go") ?? "",
    sections.get("gostack") ?? "",
    sections.get("gopanic") ?? "",
    sections.get("gosignal") ?? "",
    sections.get("gothrow") ?? "",
  );
  if (go) report.go = go;
  return report;
}

/** Parses the sections printed by the Go goroutine, panic and thread-signal scripts. */
export function parseGo(
  head: string,
  stack: string,
  panic: string,
  threadSignal = "",
  thrown = "",
): GoReport | undefined {
  const signal = / sig=(\d+) code=(-?\d+) addr=(0x[0-9a-f]+) pc=(0x[0-9a-f]+)/;
  const current = new RegExp(`^goid=(\\d+)${signal.source}`, "m").exec(head);
  if (!current) return undefined;
  // The goroutine's record, else the thread's g0 or its handler frame for a fault in C code
  // called through cgo.
  const g0 = new RegExp(`^g0${signal.source}`, "m").exec(head);
  const thread = new RegExp(`^thread${signal.source}`, "m").exec(threadSignal);
  const [state, faultText] = current[2] !== "0"
    ? [current.slice(2), head]
    : g0 && g0[1] !== "0"
    ? [g0.slice(1), head]
    : thread
    ? [thread.slice(1), threadSignal]
    : [current.slice(2), ""];
  const report: GoReport = {
    goroutine: Number(current[1]),
    signal: Number(state[0]),
    code: Number(state[1]),
    address: state[2]!,
    pc: state[3]!,
    stack: [],
  };
  if (report.signal !== 0) {
    const fault = faultText.split("\n").map((line) => parseListHeader(line, 0)).find((f) =>
      f !== undefined
    );
    if (fault) report.fault = fault;
  }
  for (const line of stack.split("\n")) {
    const frame = parseListHeader(line, report.stack.length);
    if (frame) report.stack.push(frame);
  }
  const message = /^\$\d+ = (".*")$/m.exec(panic);
  if (message) report.panicMessage = unquoteC(message[1]!);
  const fatal = /^\$\d+ = (".*")$/m.exec(thrown);
  if (fatal) report.fatalError = unquoteC(fatal[1]!);
  return report;
}

/**
 * Parses the first line `list *ADDR` prints: `0x480fd6 is in main.main (/src/main.go:8).`,
 * `0x1 is at /src/a.s:3.`, or `No line number information available for address 0x1 <f+4>`.
 */
export function parseListHeader(line: string, index: number): Frame | undefined {
  const inFunction = /^(0x[0-9a-f]+) is in (.+) \((.+):(\d+)\)\.$/.exec(line);
  if (inFunction) {
    return {
      index,
      address: inFunction[1]!,
      function: inFunction[2]!,
      file: inFunction[3]!,
      line: Number(inFunction[4]),
    };
  }
  const at = /^(0x[0-9a-f]+) is at (.+):(\d+)\.$/.exec(line);
  if (at) return { index, address: at[1]!, file: at[2]!, line: Number(at[3]) };
  const bare =
    /^No line number information available for address (0x[0-9a-f]+)(?: <([^>+]+)(?:\+\d+)?>)?/
      .exec(line);
  if (bare) {
    return bare[2] ? { index, address: bare[1]!, function: bare[2] } : { index, address: bare[1]! };
  }
  return undefined;
}

/** Splits the output at the markers; sections printed twice under one name are joined. */
function splitSections(text: string): Map<string, string> {
  const sections = new Map<string, string>();
  let name = "";
  let lines: string[] = [];
  const close = () => {
    const before = sections.get(name);
    sections.set(name, before === undefined ? lines.join("\n") : `${before}\n${lines.join("\n")}`);
  };
  for (const line of text.split("\n")) {
    const marker = /^@@agent:(\w+)@@$/.exec(line.trim());
    if (marker) {
      close();
      name = marker[1]!;
      lines = [];
    } else {
      lines.push(line);
    }
  }
  close();
  return sections;
}

const THREAD_HEADER = /^Thread (\d+) \((.*)\):$/;

/** Parses `thread apply all bt` (or a single `bt`, as thread 1). */
export function parseThreads(text: string): GdbThread[] {
  const threads: GdbThread[] = [];
  let thread: GdbThread | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    const header = THREAD_HEADER.exec(line);
    if (header) {
      thread = { number: Number(header[1]), frames: [] };
      const lwp = /\bLWP (\d+)\)?/.exec(header[2]!);
      if (lwp) thread.tid = Number(lwp[1]);
      const name = /"([^"]*)"\s*$/.exec(header[2]!);
      if (name) thread.name = name[1]!;
      threads.push(thread);
      continue;
    }
    if (!line.startsWith("#")) continue;
    const frame = parseFrame(line);
    if (!frame) continue;
    if (!thread) {
      thread = { number: 1, frames: [] };
      threads.push(thread);
    }
    thread.frames.push(frame);
  }
  return threads;
}

/**
 * Parses one backtrace line such as
 * `#1  0x000055b3 in idle_worker (arg=0x0) at threads.c:7` or
 * `#2  0x00007f88 in clone3 () from /lib/x86_64-linux-gnu/libc.so.6`.
 */
export function parseFrame(line: string): Frame | undefined {
  const head = /^#(\d+)\s+(?:(0x[0-9a-fA-F]+) in )?(.*)$/.exec(line);
  if (!head) return undefined;
  const frame: Frame = { index: Number(head[1]) };
  if (head[2]) frame.address = head[2];
  let rest = head[3]!.trim();
  if (rest.startsWith("<") && rest.endsWith(">") && !rest.includes("(")) {
    frame.function = rest;
    return frame;
  }
  const from = / from (\S+)$/.exec(rest);
  if (from) {
    frame.library = from[1]!;
    rest = rest.slice(0, from.index);
  } else {
    // The last " at FILE:LINE": arguments can contain " at " ("Cannot access memory at ...").
    const at = /^(.*) at (.+):(\d+)$/.exec(rest);
    if (at) {
      frame.file = at[2]!;
      frame.line = Number(at[3]);
      rest = at[1]!;
    }
  }
  const group = lastTopLevelGroup(rest);
  const name = (group ? rest.slice(0, group.start) : rest).trim();
  if (name && name !== "??") frame.function = name;
  if (group) frame.args = rest.slice(group.start + 1, group.end);
  return frame;
}

/** Finds the last parenthesized group at nesting depth 0, skipping quoted text. */
function lastTopLevelGroup(text: string): { start: number; end: number } | undefined {
  let depth = 0;
  let start = -1;
  let last: { start: number; end: number } | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || (c === "'" && depth > 0)) quote = c;
    else if (c === "(") {
      if (depth === 0) start = i;
      depth++;
    } else if (c === ")" && depth > 0) {
      depth--;
      if (depth === 0) last = { start, end: i };
    }
  }
  return last;
}

/** Parses `x/s ADDR` output: `0x7ff5:\t"text"`, decoding C escapes. */
export function parseExamineString(text: string): string | undefined {
  const match = /^0x[0-9a-fA-F]+(?: <[^>]*>)?:\s+(".*)$/m.exec(text);
  if (!match) return undefined;
  const trimmed = unquoteC(match[1]!).trim();
  return trimmed || undefined;
}

const ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  a: "\x07",
  b: "\b",
  f: "\f",
  v: "\v",
  e: "\x1b",
};

/**
 * Decodes gdb's rendering of a string: one or more double-quoted C strings (gdb splits
 * long ones and repeats as `"a"..., 'x' <repeats 9 times>`); text between them is dropped.
 */
export function unquoteC(body: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (!inString) {
      if (c === '"') inString = true;
      continue;
    }
    if (c === '"') {
      inString = false;
    } else if (c === "\\" && i + 1 < body.length) {
      const next = body[++i]!;
      const octal = /^[0-7]{1,3}/.exec(body.slice(i));
      if (octal) {
        out += String.fromCharCode(parseInt(octal[0], 8));
        i += octal[0].length - 1;
      } else {
        out += ESCAPES[next] ?? next;
      }
    } else {
      out += c;
    }
  }
  return out;
}

/** Parses `info sharedlibrary`. */
export function parseSharedLibraries(text: string): SharedLibrary[] {
  const libraries: SharedLibrary[] = [];
  for (const line of text.split("\n")) {
    const match = /^(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+(Yes|No)(?: \(\*\))?\s+(\S.*)$/.exec(
      line.trim(),
    );
    if (match) {
      libraries.push({
        from: match[1]!,
        to: match[2]!,
        symbols: match[3] === "Yes",
        path: match[4]!,
      });
    }
  }
  return libraries;
}

/** Parses `info registers`: register name to its raw (hex) value. */
export function parseRegisters(text: string): Record<string, string> {
  const registers: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = /^([a-z][a-z0-9_]*)\s+(0x[0-9a-fA-F]+|-?\d+)\b/.exec(line.trim());
    if (match) registers[match[1]!] = match[2]!;
  }
  return registers;
}
