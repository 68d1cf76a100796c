/**
 * `agent analyze core CORE [--exe PATH] [--no-gdb] [--ai [--force]] [-o text|json]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { ExitCode, UsageError } from "../lib/errors.ts";
import type { CliContext } from "./_context.ts";
import { examples } from "./_help.ts";
import { checkAi, explainCore, renderExplanation } from "./ai.ts";
import { print, renderJson } from "./output.ts";
import { later } from "./_later.ts";

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
      // The command's modules load when it runs, not with the command line.
      const [{ analyzeWithBundle }, { analyzeOptions }, { renderAnalysis }] = await Promise.all([
        later<typeof import("../lib/collect/mod.ts")>("../lib/collect/mod.ts"),
        later<typeof import("../lib/core/mod.ts")>("../lib/core/mod.ts"),
        later<typeof import("./_analysis_text.ts")>("./_analysis_text.ts"),
      ]);
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
