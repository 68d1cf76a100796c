/**
 * The rule-based debugging-value score of a core, 0-10: base 4.0 plus eight rules that add
 * points (clear crash reason, panic keywords, stack trace, threads, pod association, fatal
 * signal, size, age) and three that take points off (the signal was sent by another process,
 * the crash group already has stored cores, the program's frames have no symbols), kept
 * within 0 and the maximum. Pure: time, pod association and the crash group's stored cores
 * come in as parameters.
 *
 * @module
 */
import { basename } from "./_posix.ts";
import type { Config } from "../config/mod.ts";
import { formatBytes } from "../units.ts";
import type { CoreAnalysis } from "./analyze.ts";
import { crashFrame, isProgramFrame } from "./frames.ts";

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
  | "recentCrash"
  | "sentByOtherProcess"
  | "knownCrashGroup"
  | "noSymbols";

/** The rules that add points, in the order they are judged. */
export const POSITIVE_RULES = [
  "crashReason",
  "panicKeywords",
  "stackTrace",
  "multipleThreads",
  "podAssociation",
  "fatalSignal",
  "largeCore",
  "recentCrash",
] as const satisfies readonly ScoreRule[];

/** The rules that take points off. */
export const NEGATIVE_RULES = [
  "sentByOtherProcess",
  "knownCrashGroup",
  "noSymbols",
] as const satisfies readonly ScoreRule[];

/** One rule that fired. */
export interface ScoreItem {
  rule: ScoreRule;
  /** Points added, or taken off (negative). */
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
  /**
   * Cores of the same crash group (instance and fingerprint) already stored, as the core
   * index knows them; `undefined` when there is no index to ask (`agent score`).
   */
  groupStored?: number;
  now: Date;
}

/**
 * Turns the configuration and what the caller knows of the core into scorer options; the
 * threshold is `analyzer.valueThreshold` unless given.
 *
 * @example Usage
 * ```ts ignore
 * scoreCore(analysis, scoreOptions(config, { pod: "querynode-0", now: new Date() }));
 * ```
 */
export function scoreOptions(
  config: Pick<Config, "analyzer">,
  known: Pick<ScoreOptions, "pod" | "groupStored" | "now"> & { threshold?: number },
): ScoreOptions {
  const { scoring, panicKeywords, fatalSignals, valueThreshold } = config.analyzer;
  return {
    scoring,
    panicKeywords,
    fatalSignals,
    ...known,
    threshold: known.threshold ?? valueThreshold,
  };
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
  const takeOff = (rule: ScoreRule, points: number, detail: string) => {
    if (points > 0) breakdown.push({ rule, points: -points, detail });
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

  const keyword = options.panicKeywords.find((k) => saysKeyword(programSaid(analysis), k));
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

  const sender = sentByOtherProcess(analysis);
  if (sender !== undefined) {
    takeOff(
      "sentByOtherProcess",
      w.sentByOtherProcess,
      `${analysis.signal!.name} ${analysis.signal!.description} from ${
        sender === 0 ? "outside the process's pid namespace" : `pid ${sender}`
      }: killed, not crashed`,
    );
  }
  if (options.groupStored !== undefined && options.groupStored > 0) {
    takeOff(
      "knownCrashGroup",
      w.knownCrashGroup,
      `crash group ${analysis.fingerprint.id} has ${options.groupStored} stored core${
        options.groupStored === 1 ? "" : "s"
      }`,
    );
  }
  const unsymbolized = unsymbolizedProgramFrames(analysis);
  if (unsymbolized > 0) {
    takeOff(
      "noSymbols",
      w.noSymbols,
      `none of the program's ${unsymbolized} frame${unsymbolized === 1 ? "" : "s"} has a symbol`,
    );
  }

  const total = breakdown.reduce((sum, item) => sum + item.points, 0);
  const score = Math.round(Math.max(0, Math.min(w.max, total)) * 100) / 100;
  return { score, threshold: options.threshold, store: score >= options.threshold, breakdown };
}

/**
 * What the program itself said, where panic keywords are looked for: glibc's abort message,
 * the Go runtime's panic or fatal error as it prints them, and the names of the crashing
 * stack's functions. Not the crash reason, which the agent composes (it always names the
 * signal, so a keyword like `SIGSEGV` would only repeat the fatal-signal rule).
 */
function programSaid(analysis: CoreAnalysis): string {
  return [
    analysis.abortMessage ?? "",
    analysis.go?.panicMessage ? `panic: ${analysis.go.panicMessage}` : "",
    analysis.go?.fatalError ? `fatal error: ${analysis.go.fatalError}` : "",
    ...analysis.stackTrace.map((f) => f.function ?? ""),
  ].join("\n");
}

/**
 * Whether `text` says `keyword`, case-insensitively; a keyword of several words matches when
 * its words appear in that order on one line, as in glibc's "Assertion `x > 0' failed" for
 * `assertion failed`.
 */
function saysKeyword(text: string, keyword: string): boolean {
  const words = keyword.trim().split(/\s+/).map((word) =>
    word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(words.join("[^\\n]*?"), "i").test(text);
}

/**
 * The pid that sent the core's signal when that was another process (`kill`, `tkill`,
 * `sigqueue`, `si_code` 0, -6 or -1, and a sender other than the process itself; 0 is a
 * sender outside the process's pid namespace), else `undefined`.
 */
function sentByOtherProcess(analysis: CoreAnalysis): number | undefined {
  const signal = analysis.signal;
  if (!signal || signal.code === null || ![0, -1, -6].includes(signal.code)) return undefined;
  if (signal.senderPid === null || signal.senderPid === analysis.process.pid) return undefined;
  return signal.senderPid;
}

/**
 * How many frames of the crashing stack belong to the program when none of them has a
 * symbol: 0 when one has, or when gdb did not unwind the stack (notes alone say nothing about
 * symbols).
 */
function unsymbolizedProgramFrames(analysis: CoreAnalysis): number {
  if (!analysis.gdb.used) return 0;
  const own = analysis.stackTrace.filter(isProgramFrame);
  return own.length > 0 && own.every((f) => f.function === undefined) ? own.length : 0;
}

/** A rule that would have brought a core to a bar: one that did not fire, or a penalty. */
export interface Lift {
  rule: ScoreRule;
  /** Points the rule would add (or the penalty took off). */
  points: number;
  /** The score the core would have had with the rule (or without the penalty). */
  score: number;
  /** When the rule fires, for people. */
  condition: string;
}

/**
 * When a rule fires, in a few words, with the configured bounds.
 *
 * @example Usage
 * ```ts ignore
 * ruleCondition("stackTrace", config.analyzer.scoring); // "a crashing stack over 100 characters"
 * ```
 */
export function ruleCondition(rule: ScoreRule, scoring: ScoreOptions["scoring"]): string {
  switch (rule) {
    case "base":
      return "every core";
    case "crashReason":
      return "the crash located in a named function, or an abort message";
    case "panicKeywords":
      return "a panic keyword in what the program said";
    case "stackTrace":
      return `a crashing stack over ${scoring.stackTraceMinChars} characters`;
    case "multipleThreads":
      return "more than one thread";
    case "podAssociation":
      return "linked to a pod";
    case "fatalSignal":
      return "a fatal signal";
    case "largeCore":
      return `a core over ${formatBytes(scoring.largeCoreBytes)}`;
    case "recentCrash":
      return `a core younger than ${Math.round(scoring.recentWithin / 60_000)} min`;
    case "sentByOtherProcess":
      return "the signal sent by another process";
    case "knownCrashGroup":
      return "a crash group with stored cores";
    case "noSymbols":
      return "no symbol in the program's frames";
  }
}

/**
 * The rule that would have lifted a core to `bar`: of the rules that did not fire and the
 * penalties that did, the one that reaches `bar` with the fewest points, else the one that
 * comes closest. `undefined` when nothing would change the score.
 *
 * @example Usage
 * ```ts ignore
 * liftingRule(score, config.analyzer.scoring, 7)?.rule; // "crashReason"
 * ```
 */
export function liftingRule(
  score: Score,
  scoring: ScoreOptions["scoring"],
  bar: number,
): Lift | undefined {
  const fired = new Map(score.breakdown.map((item) => [item.rule, item.points]));
  const total = score.breakdown.reduce((sum, item) => sum + item.points, 0);
  const lifts: Lift[] = [];
  for (const rule of POSITIVE_RULES) {
    if (!fired.has(rule) && scoring[rule] > 0) {
      lifts.push({
        rule,
        points: scoring[rule],
        score: 0,
        condition: ruleCondition(rule, scoring),
      });
    }
  }
  for (const rule of NEGATIVE_RULES) {
    const points = fired.get(rule);
    if (points !== undefined) {
      lifts.push({ rule, points: -points, score: 0, condition: ruleCondition(rule, scoring) });
    }
  }
  for (const lift of lifts) {
    lift.score = Math.round(Math.max(0, Math.min(scoring.max, total + lift.points)) * 100) / 100;
  }
  const useful = lifts.filter((l) => l.score > score.score);
  const reaching = useful.filter((l) => l.score >= bar).sort((a, b) => a.points - b.points);
  return reaching[0] ?? useful.sort((a, b) => b.score - a.score)[0];
}
