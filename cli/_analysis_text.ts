/**
 * The human report of `agent analyze core`, apart from the command so that the quick path of
 * `analyze core` (cli/_early.ts) renders it without loading the command line.
 *
 * @module
 */
import { formatBytes } from "../lib/units.ts";
import { escapeControl } from "../lib/escape.ts";
import { type CoreAnalysis, crashFrame, type Frame, frameLabel } from "../lib/core/mod.ts";

function renderFrame(frame: Frame): string {
  let text = `#${frame.index}`.padEnd(4);
  if (frame.address) text += `${frame.address} in `;
  text += frame.function ? `${frame.function} (${frame.args ?? ""})` : "??";
  if (frame.file) text += ` at ${frame.file}:${frame.line}`;
  else if (frame.library) {
    text += ` from ${frame.library}${frame.function || !frame.offset ? "" : `+${frame.offset}`}`;
  }
  return text;
}

/**
 * Renders the human report of `analyze core`. Every line is escaped: nearly every value in
 * it (process name, command line, paths, gdb's frames, messages) was written by the crashed
 * process or read from its memory, and must not reach the terminal as control characters.
 */
export function renderAnalysis(a: CoreAnalysis): string {
  const lines: string[] = [];
  const push = (...more: string[]) => lines.push(...more.map(escapeControl));
  const row = (label: string, value: string) => push(`${label.padEnd(10)}${value}`);
  const compression = a.compression === "none" ? "" : `, ${a.compression}`;
  row(
    "Core",
    `${a.file} (${formatBytes(a.sizeBytes)}${compression}, ${
      formatBytes(a.coreBytes)
    } of memory, ${a.machine})`,
  );
  row("Process", `${a.process.name ?? "?"} (pid ${a.process.pid ?? "?"})`);
  if (a.process.commandLine) row("Command", a.process.commandLine);
  if (a.process.executable) row("Exe", a.process.executable);
  const exe = a.buildIds.find((m) => m.path === a.process.executable);
  if (exe?.buildId) {
    const libraries = a.buildIds.length - 1;
    const host = exe.host === "different" ? ", this host's file is another build" : "";
    row(
      "Build-id",
      `${exe.buildId}${host}${
        libraries > 0
          ? `, ${libraries} ${libraries === 1 ? "library" : "libraries"} in -o json`
          : ""
      }`,
    );
  }
  if (a.signal) {
    const address = a.signal.address ? `, fault address ${a.signal.address}` : "";
    row("Signal", `${a.signal.name} (${a.signal.number}), ${a.signal.description}${address}`);
  }
  if (a.go?.signal) {
    const address = a.go.signal.address ? `, fault address ${a.go.signal.address}` : "";
    row(
      "Go",
      `${a.go.signal.name} (${a.go.signal.number}), ${a.go.signal.description}${address}, pc ${a.go.signal.pc}`,
    );
  }
  if (a.go?.panicMessage) row("Panic", a.go.panicMessage);
  if (a.go?.fatalError) row("Fatal", a.go.fatalError);
  if (a.abortMessage) row("Abort", a.abortMessage);
  row("Crash", a.crashReason);
  row("Threads", `${a.threadCount} (crashing: LWP ${a.crashingThread.tid})`);
  push(
    "",
    a.go && a.stackTraceOf === "goroutine"
      ? `Stack trace of goroutine ${a.go.goroutine}, running on the crashing thread (LWP ${a.crashingThread.tid}):`
      : `Stack trace of the crashing thread (LWP ${a.crashingThread.tid}):`,
  );
  for (const frame of a.stackTrace) push(`  ${renderFrame(frame)}`);
  const others = a.threads.filter((t) => !t.crashing);
  if (others.length > 0) {
    push("", "Other threads (each one's first frame of the program):");
    for (const thread of others) {
      const frame = crashFrame(thread.frames);
      push(
        `  LWP ${thread.tid}${thread.name ? ` "${thread.name}"` : ""}: ${
          frame ? frameLabel(frame) : thread.pc
        }`,
      );
    }
  }
  push("", a.gdb.used ? `gdb: ${a.gdb.durationMs} ms` : "gdb: not used (notes only)");
  if (a.warnings.length > 0) {
    push("", "Warnings:");
    for (const warning of a.warnings) push(`  - ${warning}`);
  }
  return lines.join("\n");
}
