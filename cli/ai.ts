/**
 * `agent ai usage [-o text|json]`, and the AI part of `agent analyze core --ai`: asking for
 * an explanation within the limits, and rendering it.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import type { DatabaseSync } from "node:sqlite";
import type { Explanation, UsageReport } from "../lib/ai/mod.ts";
import type { Config } from "../lib/config/mod.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";
import { escapeControl } from "../lib/escape.ts";
import type { CliContext } from "./_context.ts";
import { examples } from "./_help.ts";
import { print, renderJson } from "./output.ts";
import { later } from "./_later.ts";

/** Builds the `ai` command group. */
export function aiCommand(context: CliContext): CommandUnknownOpts {
  const ai = new Command("ai").description(
    "AI crash analysis: spend and limits (see: agent ai usage --help)",
  );
  const usage = ai.command("usage")
    .summary("Show this month's spend on the model API, the hourly count and the limits")
    .description(
      "Show what AI crash analysis used this month (UTC) on this node: the spend, from the " +
        "provider's usage and ai.prices; requests and tokens; analyses begun in the last hour; " +
        "explanations by outcome; crash groups with a cached explanation; and the limits of " +
        "the ai section. Read from the state database (stateDir) that the daemon and " +
        "`agent analyze core --ai` share; nothing is created when there is none.",
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["text", "json"] as const)
        .default("text"),
    )
    .action(async (options) => {
      const config = await context.config();
      const usage = await readUsage(config);
      const report = { ...usage, limits: await limitsOf(config) };
      await print(options.output === "json" ? renderJson(report) : renderUsage(report));
    });
  examples(
    usage,
    ["This month's spend, the hourly count and the limits", "agent ai usage"],
    [
      "The same as JSON, from the daemon's state directory",
      "agent ai usage -o json --config /etc/agent/config.yaml",
    ],
  );
  return examples(ai, ["This month's spend on AI crash analysis", "agent ai usage"]);
}

/** The limits of the `ai` section, as `ai usage` shows them. */
async function limitsOf(config: Config) {
  // The command's modules load when it runs, not with the command line.
  const { priceOf } = await later<typeof import("../lib/ai/mod.ts")>("../lib/ai/mod.ts");
  const ai = config.ai;
  return {
    maxCostPerMonth: ai.maxCostPerMonth,
    maxAnalysisPerHour: ai.maxAnalysisPerHour,
    maxTokensPerAnalysis: ai.maxTokensPerAnalysis,
    minScore: ai.minScore ?? config.analyzer.valueThreshold,
    provider: ai.provider,
    model: ai.model,
    price: ai.model ? priceOf(ai.prices, ai.model) ?? null : null,
  };
}

/** The month's usage, or zeros when there is no state database yet. */
async function readUsage(config: Config): Promise<UsageReport> {
  const [{ AiLedger }, { openState }] = await Promise.all([
    later<typeof import("../lib/ai/mod.ts")>("../lib/ai/mod.ts"),
    later<typeof import("../lib/store/mod.ts")>("../lib/store/mod.ts"),
  ]);
  const now = new Date();
  const exists = await Deno.stat(`${config.stateDir}/state.db`).then(() => true, () => false);
  const db = await openState(exists ? config.stateDir : ":memory:");
  try {
    return new AiLedger(db).usage(now);
  } finally {
    db.close();
  }
}

function money(value: number): string {
  return value === 0 ? "0" : value < 0.01 ? value.toPrecision(3) : value.toFixed(2);
}

function renderUsage(r: UsageReport & { limits: Awaited<ReturnType<typeof limitsOf>> }): string {
  const l = r.limits;
  const row = (label: string, value: string) => `${label.padEnd(11)}${value}`;
  const price = l.price
    ? `, ${l.price.input}/${l.price.output} per million input/output tokens`
    : l.model
    ? ", no price in ai.prices"
    : "";
  return [
    row("Month", `${r.month} (UTC)`),
    row("Spend", `${money(r.cost)} of ${l.maxCostPerMonth} (ai.maxCostPerMonth)`),
    row(
      "Requests",
      `${r.requests} (${r.inputTokens} input tokens, ${r.outputTokens} output tokens)`,
    ),
    row("Last hour", `${r.lastHour} of ${l.maxAnalysisPerHour} analyses (ai.maxAnalysisPerHour)`),
    row(
      "Analyses",
      `${r.analyses.ok} explained, ${r.analyses.failed} failed, ${r.analyses.skipped} skipped this month; ${r.cachedGroups} crash ${
        r.cachedGroups === 1 ? "group" : "groups"
      } cached`,
    ),
    row("Limits", `${l.maxTokensPerAnalysis} tokens per analysis, score ${l.minScore} or more`),
    row("Model", escapeControl(`${l.provider} ${l.model || "(ai.model not set)"}${price}`)),
  ].join("\n");
}

/** Checks the `ai` section before a long analysis; throws its ConfigError. */
export async function checkAi(config: Config): Promise<void> {
  const { aiSettings } = await later<typeof import("../lib/ai/mod.ts")>("../lib/ai/mod.ts");
  await aiSettings(config);
}

/**
 * Explains an analyzed core as `agent analyze core --ai` asks: scored as the collector would
 * (without a pod), its crash group's count from the core index, within the limits kept in the
 * state database.
 *
 * @throws {ConfigError} when the `ai` section is incomplete.
 * @throws {UnavailableError} when the state database cannot be opened.
 */
export async function explainCore(
  config: Config,
  analysis: CoreAnalysis,
  options: { force: boolean; signal?: AbortSignal },
): Promise<Explanation> {
  const [{ AiLedger, aiSettings, crashContext, Explainer }, { scoreCore, scoreOptions }, store] =
    await Promise.all([
      later<typeof import("../lib/ai/mod.ts")>("../lib/ai/mod.ts"),
      later<typeof import("../lib/core/mod.ts")>("../lib/core/mod.ts"),
      later<typeof import("../lib/store/mod.ts")>("../lib/store/mod.ts"),
    ]);
  const { CoreIndex, openState } = store;
  const settings = await aiSettings(config);
  const db: DatabaseSync = await openState(config.stateDir);
  try {
    const score = scoreCore(analysis, scoreOptions(config, { now: new Date() })).score;
    const occurrences = new CoreIndex(db).fingerprintCount(analysis.fingerprint.id);
    const explainer = new Explainer({
      settings,
      ledger: new AiLedger(db),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return await explainer.explain({
      context: crashContext(analysis, occurrences > 0 ? { occurrences } : {}),
      score,
      force: options.force,
    });
  } finally {
    db.close();
  }
}

/**
 * Renders an explanation after the analysis's text. Escaped: the model's words reach a
 * terminal.
 */
export function renderExplanation(e: Explanation): string {
  const lines: string[] = [""];
  const push = (...more: string[]) => lines.push(...more.map(escapeControl));
  if (!e.result) {
    push(`AI analysis ${e.status}: ${e.reason ?? "no result"}`);
    return lines.join("\n");
  }
  const r = e.result;
  const source = e.status === "cached"
    ? `the crash group's analysis of ${e.at}`
    : `${e.usage.inputTokens} input and ${e.usage.outputTokens} output tokens, cost ${
      money(e.usage.cost)
    }`;
  push(
    `AI analysis (${e.provider} ${
      e.answeredBy ?? e.model
    }, confidence ${r.confidence}; ${source}):`,
    "",
    `Summary     ${r.summary}`,
    `Root cause  ${r.rootCause}`,
    `Impact      ${r.impact}`,
  );
  if (r.recommendations.length > 0) {
    push("", "Recommendations:", ...r.recommendations.map((text, i) => `  ${i + 1}. ${text}`));
  }
  if (r.codeSuggestions.length > 0) {
    push(
      "",
      "Code suggestions:",
      ...r.codeSuggestions.map((s) =>
        `  ${s.file}${s.line !== null ? `:${s.line}` : ""}: ${s.suggestion}`
      ),
    );
  }
  if (r.relatedIssues.length > 0) {
    push("", "Related:", ...r.relatedIssues.map((text) => `  - ${text}`));
  }
  if (e.truncated.length > 0) push("", `The prompt left out: ${e.truncated.join("; ")}.`);
  return lines.join("\n");
}
