/**
 * `agent analyze core CORE [--exe PATH] [--no-gdb] [--ai [--force]] [-o text|json]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { formatBytes } from "../lib/config/mod.ts";
import { escapeControl } from "../lib/escape.ts";
import { analyzeWithBundle } from "../lib/collect/mod.ts";
import {
  analyzeOptions,
  type CoreAnalysis,
  crashFrame,
  type Frame,
  frameLabel,
} from "../lib/core/mod.ts";
import { ExitCode, UsageError } from "../lib/errors.ts";
import type { CliContext } from "./_context.ts";
import { examples } from "./_help.ts";
import { checkAi, explainCore, renderExplanation } from "./ai.ts";
import { print, renderJson } from "./output.ts";

/** Builds the `analyze` command group. */
export function analyzeCommand(context: CliContext): CommandUnknownOpts {
  const analyze = new Command("analyze")
    .summary("Analyze crash artifacts")
    .description("Analyze crash artifacts: today, coredumps (agent analyze core).");
  const core = analyze.command("core")
    .summary("Explain a coredump: signal, process, threads, crashing stack")
    .description(
      "Explain a coredump: signal, faulting address, process, threads and the crashing\n" +
        "thread's stack. Reads only the ELF notes of the core (plain, .gz, .zst or .lz4), then runs\n" +
        "gdb (sandboxed: no init files, no auto-loaded scripts, no network) when gdb and\n" +
        "the executable are available. Reports the build-ids of the executable and libraries;\n" +
        "a file on this host that is another build is not given to gdb. With\n" +
        "analyzer.debuginfodUrls, fetches separate debug info by build-id for gdb.",
    )
    .argument("<core>", "core file (ELF, or gzip/zstd/lz4-compressed ELF)")
    .option("--exe <path>", "executable that crashed (default: the path recorded in the core)")
    .option("--no-gdb", "notes only: do not run gdb")
    .option(
      "--ai",
      "then explain the crash with the model of the ai section, once per crash group, within its limits (only whitelisted facts of the analysis are sent)",
    )
    .option(
      "--force",
      "with --ai: ask again though the crash group has an explanation or the core scores below ai.minScore (the cost limits still hold)",
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["text", "json"] as const)
        .default("text"),
    )
    .action(async (core, options) => {
      if (options.force && !options.ai) throw new UsageError("--force needs --ai");
      const config = await context.config();
      // The ai section is checked before the analysis, which can take minutes.
      if (options.ai) await checkAi(config);
      // A core collected in pipe mode, or stored with its metadata, may come with a debug
      // bundle: its own executable and libraries.
      const analysis = await analyzeWithBundle(core, analyzeOptions(config, options), config);
      if (!options.ai) {
        await print(options.output === "json" ? renderJson(analysis) : renderAnalysis(analysis));
        return;
      }
      const ai = await explainCore(config, analysis, { force: options.force === true });
      // The analysis is printed all the same; a model API that failed is exit code 3.
      if (ai.status === "failed") context.fail(ExitCode.Unavailable);
      await print(
        options.output === "json"
          ? renderJson({ ...analysis, ai })
          : renderAnalysis(analysis) + "\n" + renderExplanation(ai),
      );
      if (ai.status === "failed") context.log().error("AI analysis failed", { reason: ai.reason });
    });
  examples(
    core,
    ["Explain a core in the current directory", "agent analyze core ./core.1234"],
    [
      "A compressed core, with the executable that crashed, as JSON",
      "agent analyze core core.zst --exe ./milvus -o json",
    ],
    ["Only what the core's notes say, without gdb", "agent analyze core ./core.1234 --no-gdb"],
    [
      "With a model's explanation (the ai section of the configuration)",
      "agent analyze core ./core.1234 --ai",
    ],
  );
  return examples(analyze, ["Explain a coredump", "agent analyze core ./core.1234"]);
}

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
