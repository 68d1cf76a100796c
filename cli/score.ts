/**
 * `agent score CORE... [--threshold N] [--fail-under N] [--pod NAME] [-o table|json]`.
 *
 * @module
 */
import {
  Command,
  type CommandUnknownOpts,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { AgentError, ExitCode } from "../lib/errors.ts";
import { analyzeCore, analyzeOptions, scoreCore, type ScoreItem } from "../lib/core/mod.ts";
import { mapLimit } from "../lib/pool.ts";
import { type CliContext, flag } from "./_context.ts";
import { print, renderJson, renderTable } from "./output.ts";

/** One line of `agent score -o json`. Field names are part of the JSON contract. */
export interface ScoreResult {
  file: string;
  score: number | null;
  threshold: number;
  store: boolean;
  breakdown: ScoreItem[];
  crashReason: string | null;
  signal: { number: number; name: string } | null;
  error?: string;
}

function scoreValue(text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0 || value > 10) {
    throw new InvalidArgumentError("expected a number from 0 to 10");
  }
  return value;
}

/** Builds the `score` command. */
export function scoreCommand(context: CliContext): CommandUnknownOpts {
  return new Command("score")
    .summary("Score the debugging value of cores (0-10) and decide which to store")
    .description(
      "Score the debugging value of cores, 0-10 (base 4.0 plus rules: clear crash reason,\n" +
        "panic keywords, stack trace, threads, pod association, fatal signal, size, age).\n" +
        "Cores at or above the threshold are worth storing. Exit code 1 when --fail-under\n" +
        "is given and a core scores below it; 2 when a file cannot be read.",
    )
    .argument("<cores...>", "core files (ELF, or gzip/zstd/lz4-compressed ELF)")
    .option(
      "--threshold <n>",
      "score a core needs to be stored (default: analyzer.valueThreshold, 7)",
    )
    .option("--fail-under <n>", "exit with code 1 when any core scores below N", scoreValue)
    .option("--pod <name>", "pod the cores came from (counts as pod association)")
    .option(
      "--exe <path>",
      "executable that crashed, for every core (default: the path in each core)",
    )
    .option("--no-gdb", "notes only: do not run gdb")
    .option("-j, --jobs <n>", "cores analyzed at once (default: analyzer.concurrency, 2)")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"] as const)
        .default("table"),
    )
    .addHelpText(
      "after",
      "\nExamples:\n  agent score core.*\n  agent score cores/*.core --fail-under 7 -o json",
    )
    .action(async (cores, options) => {
      const config = await context.config({
        "analyzer.valueThreshold": flag("--threshold", options.threshold),
        "analyzer.concurrency": flag("--jobs", options.jobs),
      });
      const threshold = config.analyzer.valueThreshold;
      const analyze = analyzeOptions(config, options);
      const now = new Date();
      const results = await mapLimit(
        cores,
        config.analyzer.concurrency,
        async (file) => {
          try {
            const analysis = await analyzeCore(file, analyze);
            const score = scoreCore(analysis, {
              scoring: config.analyzer.scoring,
              panicKeywords: config.analyzer.panicKeywords,
              fatalSignals: config.analyzer.fatalSignals,
              threshold,
              pod: options.pod,
              now,
            });
            for (const warning of analysis.warnings) context.log().debug(warning, { file });
            return {
              file,
              ...score,
              crashReason: analysis.crashReason,
              signal: analysis.signal &&
                { number: analysis.signal.number, name: analysis.signal.name },
            } satisfies ScoreResult;
          } catch (error) {
            if (!(error instanceof AgentError)) throw error;
            context.log().error(error.message);
            return {
              file,
              score: null,
              threshold,
              store: false,
              breakdown: [],
              crashReason: null,
              signal: null,
              error: error.message,
            } satisfies ScoreResult;
          }
        },
      );
      await print(options.output === "json" ? renderJson(results) : renderScores(results));
      if (results.some((r) => r.error !== undefined)) context.exitCode = ExitCode.Usage;
      else if (
        options.failUnder !== undefined && results.some((r) => r.score! < options.failUnder!)
      ) {
        context.exitCode = ExitCode.Finding;
      }
    });
}

function renderScores(results: ScoreResult[]): string {
  const rows = results.map((r) =>
    r.error !== undefined ? [r.file, "-", "-", "-", "-", `error: ${r.error}`] : [
      r.file,
      r.score!.toFixed(1),
      r.store ? "yes" : "no",
      r.signal?.name ?? "-",
      r.breakdown.filter((b) => b.rule !== "base").map((b) => `${b.rule}+${b.points}`).join(",") ||
      "-",
      r.crashReason ?? "",
    ]
  );
  return renderTable(["FILE", "SCORE", "STORE", "SIGNAL", "RULES", "CRASH REASON"], rows);
}
