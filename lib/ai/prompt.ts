/**
 * The prompt: fixed instructions and the JSON the answer must be (the system part), and the
 * crash context as structured text (the user part), cut to an input-token budget. What goes
 * first when it is over: the outermost frames (from the deepest, down to the frames around
 * the crash), then the other threads, the older restarts, the length of the abort message and
 * the group's basis; the prompt says what was left out.
 *
 * Tokens are estimated at one per three bytes of UTF-8, about what byte-pair tokenizers make
 * of stack traces (identifiers, paths, hex offsets). The cost ledger reserves for the worst
 * case instead, one token per byte: no byte-level tokenizer makes more.
 *
 * @module
 */
import type { ContextFrame, CrashContext } from "./context.ts";

/** A prompt ready to send. */
export interface Prompt {
  system: string;
  user: string;
  /** Estimated input tokens of system and user together. */
  estimatedTokens: number;
  /** What was left out to fit the budget, for people (empty when nothing was). */
  truncated: string[];
}

const encoder = new TextEncoder();

/** Tokens added per message by the chat formats (role markers). */
export const MESSAGE_OVERHEAD_TOKENS = 8;

/**
 * The estimated tokens of `text`.
 *
 * @example Usage
 * ```ts
 * estimateTokens("abcdef"); // 2
 * ```
 */
export function estimateTokens(text: string): number {
  return Math.ceil(encoder.encode(text).length / 3);
}

/**
 * The most tokens `text` can be for any byte-level tokenizer: one per byte.
 *
 * @example Usage
 * ```ts
 * worstCaseTokens("abcdef"); // 6
 * ```
 */
export function worstCaseTokens(text: string): number {
  return encoder.encode(text).length;
}

/** The instructions: what to explain, and the one JSON object to answer with. */
export const SYSTEM_PROMPT = `You are a senior C++ and Go engineer who debugs crashes of Milvus, \
a distributed vector database, from core dumps. You are given what a crash analysis found: the \
signal, the crashing stack (functions, source files and lines, module offsets), the other \
threads, the abort or panic message, how often this crash group occurred, the instance and its \
container image, the container's restarts. Memory contents, arguments, environment and \
command lines are never included.

Explain the crash for the engineers who own the service. Be specific to the frames given; \
say when the evidence is thin and lower your confidence accordingly. Do not invent file names \
or line numbers that are not in the stack.

Answer with one JSON object and nothing else (no Markdown fences, no prose around it), with \
exactly these fields:
{
  "summary": string, one or two sentences: what crashed and why,
  "rootCause": string, the most likely root cause, citing frames,
  "impact": string, what the crash does to the service and its data,
  "recommendations": [string], concrete next steps, most useful first (at most 8),
  "confidence": number from 0 to 1,
  "codeSuggestions": [{"file": string, "line": integer or null, "suggestion": string}], \
fixes at frames of the stack (at most 5; empty when none can be said),
  "relatedIssues": [string], known issues, versions or search terms worth checking (at most 5)
}`;

/** The frames kept at least: the crash frame and a few of its callers. */
const CALLERS_KEPT = 4;

interface Shape {
  frames: number;
  threads: number;
  restarts: number;
  messageChars: number;
  basis: boolean;
}

function frameLine(frame: ContextFrame, index: number, marked: boolean): string {
  let text = `#${index} ${frame.function ?? "??"}`;
  if (frame.file) text += ` at ${frame.file}${frame.line !== undefined ? `:${frame.line}` : ""}`;
  if (frame.module) text += ` [${frame.module}${frame.offset ? `+${frame.offset}` : ""}]`;
  return marked ? `${text}   <- crash attributed here` : text;
}

function render(context: CrashContext, shape: Shape, notes: string[]): string {
  const lines: string[] = [];
  lines.push(`Program: ${context.program ?? "unknown"} (${context.machine})`);
  const s = context.signal;
  if (s) {
    lines.push(
      `Signal: ${s.name} (${s.number}), ${s.description}${
        s.faultAddress ? `, fault address ${s.faultAddress}` : ""
      }`,
    );
  } else lines.push("Signal: none recorded");
  if (context.goSignal) {
    lines.push(
      `Go runtime: ${context.goSignal.name}, ${context.goSignal.description}, turned into a panic`,
    );
  }
  lines.push(`Crash reason: ${context.crashReason}`);
  if (context.message) {
    const m = context.message;
    lines.push(
      `Message: ${m.length > shape.messageChars ? `${m.slice(0, shape.messageChars)}\u2026` : m}`,
    );
  }
  const g = context.group;
  lines.push(
    `Crash group: ${g.fingerprint}${
      g.occurrences !== null
        ? `, ${g.occurrences} ${g.occurrences === 1 ? "core" : "cores"} seen so far`
        : ""
    }${
      shape.basis && g.basis.length > 0 ? ` (signal and top frames: ${g.basis.join(" / ")})` : ""
    }`,
  );
  const i = context.instance;
  if (i.name || i.image || i.container) {
    const kind = i.kind === "helm"
      ? " (Helm release)"
      : i.kind === "operator"
      ? " (milvus-operator)"
      : "";
    const parts = [`${i.name ?? "unknown instance"}${kind}`];
    if (i.container) parts.push(`container ${i.container}`);
    if (i.image) parts.push(`image ${i.image}`);
    lines.push(`Instance: ${parts.join(", ")}`);
  }
  const restarts = context.restarts.slice(-shape.restarts);
  if (context.restarts.length > 0) {
    lines.push(`Restarts of the container (${context.restarts.length}, latest last):`);
    for (const r of restarts) {
      const parts = [r.at ?? "time unknown"];
      if (r.exitCode !== null) parts.push(`exit code ${r.exitCode}`);
      if (r.signal !== null) parts.push(`signal ${r.signal}`);
      if (r.reason) parts.push(r.reason);
      lines.push(`- ${parts.join(", ")}`);
    }
  }
  lines.push("");
  lines.push(
    context.stackOf === "goroutine"
      ? "Stack of the goroutine running on the crashing thread (innermost first):"
      : "Stack of the crashing thread (innermost first):",
  );
  const frames = context.frames.slice(0, shape.frames);
  if (frames.length === 0) lines.push("(no frames)");
  frames.forEach((f, n) => lines.push(frameLine(f, n, n === context.crashFrame)));
  if (context.threadCount > 1) {
    lines.push("");
    const shown = context.otherThreads.slice(0, shape.threads);
    lines.push(
      `Other threads: ${context.threadCount - 1}${
        shown.length > 0 ? `; each one's first frame of the program:` : ""
      }`,
    );
    for (const t of shown) lines.push(`- ${t.name ? `"${t.name}": ` : ""}${t.at}`);
  }
  if (notes.length > 0) {
    lines.push("");
    lines.push(`Note: cut to fit the input budget: ${notes.join("; ")} left out.`);
  }
  return lines.join("\n");
}

function notesOf(context: CrashContext, shape: Shape): string[] {
  const notes: string[] = [];
  const frames = context.frames.length - shape.frames;
  if (frames > 0) {
    notes.push(`the ${frames} outermost of ${context.frames.length} frames`);
  }
  const threads = context.otherThreads.length - shape.threads;
  if (threads > 0) notes.push(`${threads} of ${context.otherThreads.length} other threads`);
  const restarts = context.restarts.length - shape.restarts;
  if (restarts > 0) notes.push(`${restarts} older restarts`);
  if (context.message && context.message.length > shape.messageChars) {
    notes.push(`the message past ${shape.messageChars} characters`);
  }
  if (!shape.basis && context.group.basis.length > 0) notes.push("the crash group's frames");
  return notes;
}

/**
 * Builds the prompt for `context` within `budgetTokens` estimated input tokens (system and
 * user together).
 *
 * @example Usage
 * ```ts ignore
 * const prompt = buildPrompt(crashContext(analysis), 6000);
 * prompt.truncated; // ["the 180 outermost of 200 frames"]
 * ```
 */
export function buildPrompt(context: CrashContext, budgetTokens: number): Prompt {
  const system = SYSTEM_PROMPT;
  const budget = budgetTokens - estimateTokens(system) - 2 * MESSAGE_OVERHEAD_TOKENS;
  const minFrames = Math.min(context.frames.length, context.crashFrame + 1 + CALLERS_KEPT);
  const shape: Shape = {
    frames: context.frames.length,
    threads: context.otherThreads.length,
    restarts: context.restarts.length,
    messageChars: context.message?.length ?? 0,
    basis: true,
  };
  let user = render(context, shape, []);
  // Each step takes away some of the least useful part left; the last resort cuts the text.
  while (estimateTokens(user) > budget) {
    if (shape.frames > minFrames) {
      shape.frames = Math.max(minFrames, Math.floor(shape.frames * 0.7));
    } else if (shape.threads > 0) shape.threads = Math.floor(shape.threads * 0.5);
    else if (shape.restarts > 3) shape.restarts = 3;
    else if (shape.messageChars > 300) shape.messageChars = 300;
    else if (shape.basis) shape.basis = false;
    else if (shape.frames > 1) shape.frames = Math.max(1, Math.floor(shape.frames * 0.5));
    else break;
    user = render(context, shape, notesOf(context, shape));
  }
  const truncated = notesOf(context, shape);
  if (estimateTokens(user) > budget) {
    // A budget smaller than a crash's bare facts: the text itself is cut.
    const bytes = encoder.encode(user).subarray(0, Math.max(0, budget * 3 - 64));
    user = `${
      new TextDecoder().decode(bytes).replace(/\uFFFD$/, "")
    }\n[cut to fit the input budget]`;
    truncated.push("the end of the crash report");
  }
  return {
    system,
    user,
    estimatedTokens: estimateTokens(system) + estimateTokens(user) + 2 * MESSAGE_OVERHEAD_TOKENS,
    truncated,
  };
}
