/**
 * `agent score CORE... [--threshold N] [--fail-under N] [--pod NAME] [--wide] [-o table|json]`.
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
import type { liftingRule, ScoreItem } from "../lib/core/mod.ts";
import { escapeControl } from "../lib/escape.ts";
import { type CliContext, flag } from "./_context.ts";
import { examples } from "./_help.ts";
import { print, renderJson, renderTable } from "./output.ts";
import { later } from "./_later.ts";

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
  const command = new Command("score")
    .summary("Score the debugging value of cores (0-10) and decide which to store")
    .description(
      "Score the debugging value of cores, 0-10 (base 4.0 plus rules: clear crash reason,\n" +
        "panic keywords, stack trace, threads, pod association, fatal signal, size, age;\n" +
        "minus: sent by another process, no symbols). Cores at or above the threshold are\n" +
        "worth storing. Exit code 1 when --fail-under is given and a core scores below it\n" +
        "(one stderr line each: the score and the rule that would have lifted it); 2 when a\n" +
        "file cannot be read.",
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
    .option("--wide", "table: every rule of the breakdown and whole file names and reasons")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"] as const)
        .default("table"),
    )
    .action(async (cores, options) => {
      const config = await context.config({
        "analyzer.valueThreshold": flag("--threshold", options.threshold),
        "analyzer.concurrency": flag("--jobs", options.jobs),
      });
      // The command's modules load when it runs, not with the command line.
      const [{ analyzeWithBundle }, core, { mapLimit }] = await Promise.all([
        later<typeof import("../lib/collect/mod.ts")>("../lib/collect/mod.ts"),
        later<typeof import("../lib/core/mod.ts")>("../lib/core/mod.ts"),
        later<typeof import("../lib/pool.ts")>("../lib/pool.ts"),
      ]);
      const { analyzeOptions, scoreCore, scoreOptions } = core;
      const threshold = config.analyzer.valueThreshold;
      const analyze = analyzeOptions(config, options);
      const now = new Date();
      const results = await mapLimit(
        cores,
        config.analyzer.concurrency,
        async (file) => {
          try {
            const analysis = await analyzeWithBundle(file, analyze, config);
            const score = scoreCore(
              analysis,
              scoreOptions(config, { pod: options.pod, now }),
            );
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
      await print(
        options.output === "json" ? renderJson(results) : renderScores(results, options.wide),
      );
      const bar = options.failUnder;
      const below = bar === undefined
        ? []
        : results.filter((r) => r.score !== null && r.score < bar);
      for (const result of below) {
        context.log().error(belowBar(result, config.analyzer.scoring, bar!, core.liftingRule));
      }
      if (results.some((r) => r.error !== undefined)) context.exitCode = ExitCode.Usage;
      else if (below.length > 0) context.exitCode = ExitCode.Finding;
    });
  return examples(
    command,
    ["Score every core in the current directory", "agent score core.*"],
    [
      "Fail (exit code 1) when a sample core scores below 7, as a CI step",
      "agent score cores/*.core --fail-under 7 -o json",
    ],
    [
      "Score cores as coming from a pod (the pod association rule)",
      "agent score core.1234 --pod milvus-querynode-0",
    ],
  );
}

/**
 * One line for a core under `--fail-under`: its score and the rule that would have lifted it
 * (one that did not fire, or a penalty that did).
 */
function belowBar(
  result: ScoreResult,
  scoring: Parameters<typeof liftingRule>[1],
  bar: number,
  lifting: typeof liftingRule,
): string {
  const head = `"${result.file}" scores ${result.score}, under ${bar}`;
  const lift = lifting(
    {
      score: result.score!,
      threshold: result.threshold,
      store: result.store,
      breakdown: result.breakdown,
    },
    scoring,
    bar,
  );
  if (!lift) return `${head}: no rule would lift it`;
  return result.breakdown.some((b) => b.rule === lift.rule)
    ? `${head}: without ${lift.rule} (-${lift.points}, ${lift.condition}) it would score ${lift.score}`
    : `${head}: ${lift.rule} (+${lift.points}, ${lift.condition}) would have lifted it to ${lift.score}`;
}

/** The width the table keeps to without `--wide`. */
const TABLE_COLUMNS = 120;

/** Cuts `text` to `width` characters, ending (or, `fromStart`, beginning) with an ellipsis. */
function cut(text: string, width: number, fromStart = false): string {
  if (text.length <= width) return text;
  return fromStart ? `…${text.slice(text.length - width + 1)}` : `${text.slice(0, width - 1)}…`;
}

function renderScores(results: ScoreResult[], wide = false): string {
  const rows = results.map((r) =>
    (r.error !== undefined ? [r.file, "-", "-", "-", "-", `error: ${r.error}`] : [
      r.file,
      r.score!.toFixed(1),
      r.store ? "yes" : "no",
      r.signal?.name ?? "-",
      r.breakdown.filter((b) => b.rule !== "base").map((b) =>
        `${b.rule}${b.points < 0 ? "" : "+"}${b.points}`
      ).join(",") || "-",
      r.crashReason ?? "",
    ]).map((cell) => escapeControl(cell))
  );
  const headers = ["FILE", "SCORE", "STORE", "SIGNAL", "RULES", "CRASH REASON"];
  if (!wide) {
    // File names keep their end (the core's own name), rules and reasons their start.
    const widest = (i: number) => Math.max(headers[i]!.length, ...rows.map((r) => r[i]!.length));
    const file = Math.min(widest(0), 30);
    const rules = Math.min(widest(4), 30);
    const fixed = file + widest(1) + widest(2) + widest(3) + rules + 3 * (headers.length - 1);
    const reason = Math.max(20, TABLE_COLUMNS - fixed);
    for (const row of rows) {
      row[0] = cut(row[0]!, file, true);
      row[4] = cut(row[4]!, rules);
      row[5] = cut(row[5]!, reason);
    }
  }
  return renderTable(headers, rows);
}
