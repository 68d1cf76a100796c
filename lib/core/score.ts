/**
 * The rule-based debugging-value score of a core, 0–10: base 4.0 plus eight rules
 * (clear crash reason, panic keywords, stack trace, threads, pod association, fatal
 * signal, size, age), capped. Pure: time and pod association come in as parameters.
 *
 * @module
 */
import { basename } from "node:path";
import type { Config } from "../config/mod.ts";
import type { CoreAnalysis } from "./analyze.ts";
import { crashFrame } from "./frames.ts";

/** Names of the scoring rules, as they appear in the breakdown. */
export type ScoreRule =
  | "base"
  | "crashReason"
  | "panicKeywords"
  | "stackTrace"
  | "multipleThreads"
  | "podAssociation"
  | "fatalSignal"
  | "largeCore"
  | "recentCrash";

/** One rule that fired. */
export interface ScoreItem {
  rule: ScoreRule;
  points: number;
  /** Why it fired, for people. */
  detail: string;
}

/** A core's score. */
export interface Score {
  score: number;
  threshold: number;
  /** Whether the score reaches the threshold: the core is worth storing. */
  store: boolean;
  breakdown: ScoreItem[];
}

/** What the scorer needs beyond the analysis. */
export interface ScoreOptions {
  scoring: Config["analyzer"]["scoring"];
  panicKeywords: readonly string[];
  fatalSignals: readonly number[];
  threshold: number;
  /** Pod the core is associated with (from `--pod` or the collector). */
  pod?: string;
  now: Date;
}

/**
 * Renders the crashing thread's stack as text, one frame a line; the stack-trace rule
 * measures this text. File and library names are reduced to their base names so that the
 * length does not depend on where the sources were built.
 *
 * @example Usage
 * ```ts
 * stackTraceText([{ index: 0, function: "f", file: "/src/a.c", line: 3 }]); // "#0 f at a.c:3"
 * ```
 */
export function stackTraceText(frames: CoreAnalysis["stackTrace"]): string {
  return frames.map((f) => {
    let line = `#${f.index} ${f.function ?? f.address ?? "??"}`;
    if (f.file) line += ` at ${basename(f.file)}:${f.line}`;
    else if (f.library) line += ` from ${basename(f.library)}`;
    return line;
  }).join("\n");
}

/**
 * Scores an analysis.
 *
 * @example Usage
 * ```ts ignore
 * const result = scoreCore(analysis, { ...options, now: new Date() });
 * result.store; // true when result.score >= options.threshold
 * ```
 */
export function scoreCore(analysis: CoreAnalysis, options: ScoreOptions): Score {
  const w = options.scoring;
  const breakdown: ScoreItem[] = [{ rule: "base", points: w.base, detail: "every core" }];
  const add = (rule: ScoreRule, points: number, detail: string) => {
    if (points > 0) breakdown.push({ rule, points, detail });
  };

  const frame = crashFrame(analysis.stackTrace);
  if (analysis.signal && (frame?.function || analysis.abortMessage)) {
    add(
      "crashReason",
      w.crashReason,
      frame?.function
        ? `${analysis.signal.name} located in ${frame.function}()`
        : "abort message recorded",
    );
  }

  const haystack = [
    analysis.crashReason,
    analysis.abortMessage ?? "",
    ...analysis.stackTrace.map((f) => f.function ?? ""),
  ].join("\n").toLowerCase();
  const keyword = options.panicKeywords.find((k) => haystack.includes(k.toLowerCase()));
  if (keyword) add("panicKeywords", w.panicKeywords, `mentions "${keyword}"`);

  const stackChars = stackTraceText(analysis.stackTrace).length;
  if (stackChars > w.stackTraceMinChars) {
    add(
      "stackTrace",
      w.stackTrace,
      `${analysis.stackTrace.length} frames, ${stackChars} characters`,
    );
  }
  if (analysis.threadCount > 1) {
    add("multipleThreads", w.multipleThreads, `${analysis.threadCount} threads`);
  }
  if (options.pod) add("podAssociation", w.podAssociation, `pod ${options.pod}`);
  if (analysis.signal && options.fatalSignals.includes(analysis.signal.number)) {
    add("fatalSignal", w.fatalSignal, `signal ${analysis.signal.number} (${analysis.signal.name})`);
  }
  if (analysis.coreBytes > w.largeCoreBytes) {
    add("largeCore", w.largeCore, `${analysis.coreBytes} bytes of process memory`);
  }
  if (analysis.modifiedAt) {
    const age = options.now.getTime() - Date.parse(analysis.modifiedAt);
    if (age >= 0 && age < w.recentWithin) {
      add("recentCrash", w.recentCrash, `${Math.round(age / 1000)} s old`);
    }
  }

  const total = breakdown.reduce((sum, item) => sum + item.points, 0);
  const score = Math.round(Math.min(w.max, total) * 100) / 100;
  return { score, threshold: options.threshold, store: score >= options.threshold, breakdown };
}
