/**
 * Explaining one crash within the limits: below `ai.minScore` nothing is asked; a crash group
 * with a cached explanation gets it again (unless forced); a group whose last analysis failed
 * within the hour waits; `ai.maxAnalysisPerHour`, `ai.maxCostPerMonth` and
 * `ai.maxTokensPerAnalysis` are checked before every request, never after. Requests that hit
 * 429 or 5xx are tried again after a backoff that honours `Retry-After`; an answer that does
 * not validate is asked once more with the validation error, then the analysis has failed.
 * Whatever happens is an {@linkcode Explanation}; nothing here throws for what the model API
 * does.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { sleep as abortableSleep } from "../pool.ts";
import {
  backoffDelay,
  MAX_ATTEMPTS,
  MAX_RETRY_AFTER_MS,
  type RetryReason,
  sendOnce,
} from "./client.ts";
import type { CrashContext } from "./context.ts";
import { type AiLedger, type AnalysisRecord, tokenCost } from "./ledger.ts";
import { buildPrompt, estimateTokens, MESSAGE_OVERHEAD_TOKENS, worstCaseTokens } from "./prompt.ts";
import { type AiResult, parseAnswer } from "./result.ts";
import type { AiSettings } from "./settings.ts";
import type { ChatMessage, ModelAnswer } from "./wire.ts";

/** Why an explanation was not asked for, as metrics label it. */
export type SkipReason =
  | "below_min_score"
  | "recent_failure"
  | "hourly_limit"
  | "monthly_budget"
  | "token_cap";

/** Every skip reason, for metrics that start at 0. */
export const SKIP_REASONS: readonly SkipReason[] = [
  "below_min_score",
  "recent_failure",
  "hourly_limit",
  "monthly_budget",
  "token_cap",
];

/** What became of one request, as metrics label it. */
export type RequestOutcome = "ok" | RetryReason | "refused" | "bad_request" | "bad_answer";

/** What an explanation of one crash came to. */
export interface Explanation {
  /** `explained` (asked now), `cached` (the group's earlier answer), `skipped`, `failed`. */
  status: "explained" | "cached" | "skipped" | "failed";
  /** Why it was skipped or failed, one line. */
  reason: string | null;
  skip: SkipReason | null;
  fingerprint: string;
  /** The analysis that made the result (an earlier one for `cached`). */
  analysisId: number | null;
  result: AiResult | null;
  provider: string;
  model: string;
  answeredBy: string | null;
  /** What this explanation's own requests took (nothing for `cached`). */
  usage: { requests: number; inputTokens: number; outputTokens: number; cost: number };
  /** What the prompt left out to fit the budget. */
  truncated: string[];
  /** When the result was made. */
  at: string;
}

/** What the daemon's AI stage tells of each stored core it is done with. */
export interface AiOutcome {
  /** The core's id in the core index. */
  coreId: number;
  explanation: Explanation;
}

/** One request as metrics see it. */
export interface RequestEvent {
  outcome: RequestOutcome;
  inputTokens: number;
  outputTokens: number;
  /** In currency units. */
  cost: number;
  seconds: number;
}

/** What the explainer needs. */
export interface ExplainerOptions {
  settings: AiSettings;
  ledger: AiLedger;
  fetch?: typeof fetch;
  /** Stops waits and requests (the daemon stopping). */
  signal?: AbortSignal;
  now?: () => Date;
  /** Waits between attempts; default a timer `signal` cuts short. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Hears about every request sent. */
  onRequest?: (event: RequestEvent) => void;
}

/** What one explanation is asked for. */
export interface ExplainRequest {
  context: CrashContext;
  /** The core's score; `null` when it was not scored. */
  score: number | null;
  /** Ask even when the group has an explanation, failed lately, or scores below minScore. */
  force?: boolean;
}

/** A group whose analysis failed is not asked about again for this long. */
export const FAILED_GROUP_WAIT_MS = 3600_000;

/** The most of a refused answer sent back with the retry. */
const MAX_ECHOED_CHARS = 4000;

/** Why an analysis ended without a result. */
class Stop extends Error {
  constructor(message: string, readonly skip: SkipReason | null = null) {
    super(message);
  }
}

/** Explains crashes with one model within the configured limits. */
export class Explainer {
  /** Creates the explainer. */
  constructor(readonly options: ExplainerOptions) {}

  #now(): Date {
    return this.options.now?.() ?? new Date();
  }

  #base(fingerprint: string, status: Explanation["status"]): Explanation {
    const { settings } = this.options;
    return {
      status,
      reason: null,
      skip: null,
      fingerprint,
      analysisId: null,
      result: null,
      provider: settings.provider,
      model: settings.model,
      answeredBy: null,
      usage: { requests: 0, inputTokens: 0, outputTokens: 0, cost: 0 },
      truncated: [],
      at: this.#now().toISOString(),
    };
  }

  #skipped(fingerprint: string, skip: SkipReason, reason: string): Explanation {
    return { ...this.#base(fingerprint, "skipped"), skip, reason };
  }

  /**
   * Explains the crash of `request.context`, or says why not.
   *
   * @example Usage
   * ```ts ignore
   * const explanation = await explainer.explain({ context, score: 8.5 });
   * if (explanation.result) console.log(explanation.result.summary);
   * ```
   */
  async explain(request: ExplainRequest): Promise<Explanation> {
    const { settings, ledger } = this.options;
    const fingerprint = request.context.group.fingerprint;
    const force = request.force === true;
    if (!force && request.score !== null && request.score < settings.minScore) {
      return this.#skipped(
        fingerprint,
        "below_min_score",
        `score ${request.score} below ai.minScore ${settings.minScore}`,
      );
    }
    if (!force) {
      const cached = ledger.cached(fingerprint);
      if (cached) return this.#fromCache(cached);
      const latest = ledger.latest(fingerprint);
      const now = this.#now().getTime();
      if (
        latest?.status === "failed" && latest.finishedAt &&
        Date.parse(latest.finishedAt) + FAILED_GROUP_WAIT_MS > now
      ) {
        return this.#skipped(
          fingerprint,
          "recent_failure",
          `the crash group's analysis failed at ${latest.finishedAt} (${latest.error}): asked again after ${
            new Date(Date.parse(latest.finishedAt) + FAILED_GROUP_WAIT_MS).toISOString()
          }`,
        );
      }
    }
    const id = ledger.begin(
      fingerprint,
      settings.provider,
      settings.model,
      settings.maxAnalysisPerHour,
      this.#now(),
    );
    if (id === undefined) {
      return this.#skipped(
        fingerprint,
        "hourly_limit",
        `ai.maxAnalysisPerHour (${settings.maxAnalysisPerHour}) reached`,
      );
    }
    return await this.#analyze(id, request.context);
  }

  #fromCache(cached: AnalysisRecord): Explanation {
    return {
      ...this.#base(cached.fingerprint, "cached"),
      analysisId: cached.id,
      result: cached.result,
      provider: cached.provider,
      model: cached.model,
      answeredBy: cached.answeredBy,
      truncated: cached.truncated,
      at: cached.finishedAt ?? cached.startedAt,
    };
  }

  async #analyze(id: number, context: CrashContext): Promise<Explanation> {
    const { settings, ledger } = this.options;
    const fingerprint = context.group.fingerprint;
    const prompt = buildPrompt(
      context,
      Math.min(settings.maxInputTokens, settings.maxTokensPerAnalysis - settings.maxOutputTokens),
    );
    const used = { requests: 0, inputTokens: 0, outputTokens: 0, costNano: 0 };
    const messages: ChatMessage[] = [{ role: "user", content: prompt.user }];
    let answeredBy: string | null = null;
    const outcome = (explanation: Partial<Explanation> & Pick<Explanation, "status">) => ({
      ...this.#base(fingerprint, explanation.status),
      analysisId: id,
      answeredBy,
      usage: {
        requests: used.requests,
        inputTokens: used.inputTokens,
        outputTokens: used.outputTokens,
        cost: used.costNano / 1e9,
      },
      truncated: prompt.truncated,
      ...explanation,
    });
    try {
      for (let round = 1;; round++) {
        const answer = await this.#ask(id, prompt.system, messages, used, round);
        answeredBy = answer.model ?? answeredBy;
        const parsed = parseAnswer(answer.text);
        if (parsed.ok) {
          const record = ledger.finish(id, {
            status: "ok",
            result: parsed.result,
            answeredBy,
            truncated: prompt.truncated,
            now: this.#now(),
          });
          return outcome({ status: "explained", result: parsed.result, at: record.finishedAt! });
        }
        const error = answer.cut
          ? `the answer was cut at the output limit (${parsed.error})`
          : parsed.error;
        if (round === 2) throw new Stop(`the answer did not validate twice: ${error}`);
        messages.push(
          { role: "assistant", content: answer.text.slice(0, MAX_ECHOED_CHARS) },
          {
            role: "user",
            content: `Your answer was refused: ${error}. Answer again with the one JSON object ` +
              "exactly as specified, nothing else" +
              (answer.cut ? ", and keep it shorter." : "."),
          },
        );
      }
    } catch (error) {
      if (!(error instanceof Stop)) {
        // Stopped (the daemon ending: the core is asked about again at the next start, so the
        // group is not held back as after a failure) or a defect.
        const stopped = this.options.signal?.aborted === true;
        ledger.finish(id, {
          status: stopped ? "skipped" : "failed",
          error: stopped ? "stopped before the answer came" : errorMessage(error),
          now: this.#now(),
        });
        throw error;
      }
      // An analysis that sent nothing was skipped: it does not count towards the hour.
      const skipped = used.requests === 0 && error.skip !== null;
      ledger.finish(id, {
        status: skipped ? "skipped" : "failed",
        error: error.message,
        answeredBy,
        truncated: prompt.truncated,
        now: this.#now(),
      });
      return skipped
        ? outcome({ status: "skipped", skip: error.skip, reason: error.message })
        : outcome({ status: "failed", skip: null, reason: error.message });
    }
  }

  /**
   * Sends `messages` until an answer comes, a failure is final, or the attempts run out;
   * each request reserved in the ledger first, within the token cap.
   */
  async #ask(
    id: number,
    system: string,
    messages: ChatMessage[],
    used: { requests: number; inputTokens: number; outputTokens: number; costNano: number },
    round: number,
  ): Promise<ModelAnswer> {
    const { settings, ledger } = this.options;
    const signal = this.options.signal ?? new AbortController().signal;
    const texts = [system, ...messages.map((m) => m.content)];
    const overhead = texts.length * MESSAGE_OVERHEAD_TOKENS;
    const estimated = texts.reduce((sum, t) => sum + estimateTokens(t), overhead);
    const left = settings.maxTokensPerAnalysis - used.inputTokens - used.outputTokens - estimated;
    // Every request has room for a whole answer: the first answer may have been cut at the
    // output limit, and asking again with less room would only cut it sooner.
    const maxOutput = settings.maxOutputTokens;
    if (left < maxOutput) {
      throw new Stop(
        round === 1
          ? `ai.maxTokensPerAnalysis (${settings.maxTokensPerAnalysis}) leaves no room for an answer`
          : `ai.maxTokensPerAnalysis (${settings.maxTokensPerAnalysis}) reached before the answer could be asked again`,
        "token_cap",
      );
    }
    const worstInput = texts.reduce((sum, t) => sum + worstCaseTokens(t), overhead);
    const worstNano = tokenCost(worstInput, maxOutput, settings.price);
    for (let attempt = 1;; attempt++) {
      const requestId = ledger.reserve(
        id,
        settings.model,
        worstNano,
        settings.maxCostPerMonth,
        this.#now(),
      );
      if (requestId === undefined) {
        throw new Stop(
          `ai.maxCostPerMonth (${settings.maxCostPerMonth}) would be passed by this request (at most ${
            worstNano / 1e9
          })`,
          "monthly_budget",
        );
      }
      used.requests++;
      const started = performance.now();
      const result = await sendOnce(
        settings,
        { system, messages, maxOutputTokens: maxOutput },
        { fetch: this.options.fetch, signal },
      );
      const seconds = (performance.now() - started) / 1000;
      if (result.kind === "answer") {
        const a = result.answer;
        // Without usage in the answer, the worst case is what it may have cost.
        const inputTokens = a.inputTokens ?? estimated;
        const outputTokens = a.outputTokens ?? estimateTokens(a.text);
        const costNano = a.inputTokens !== null && a.outputTokens !== null
          ? tokenCost(a.inputTokens, a.outputTokens, settings.price)
          : worstNano;
        this.#settle(requestId, used, { inputTokens, outputTokens, costNano, outcome: "ok" });
        this.options.onRequest?.({
          outcome: "ok",
          inputTokens,
          outputTokens,
          cost: costNano / 1e9,
          seconds,
        });
        return a;
      }
      const costNano = result.billed ? worstNano : 0;
      this.#settle(requestId, used, {
        inputTokens: 0,
        outputTokens: 0,
        costNano,
        outcome: result.reason,
      });
      this.options.onRequest?.({
        outcome: result.reason,
        inputTokens: 0,
        outputTokens: 0,
        cost: costNano / 1e9,
        seconds,
      });
      if (result.kind === "fatal") throw new Stop(`the model API: ${result.detail}`);
      if (attempt >= MAX_ATTEMPTS) {
        throw new Stop(`the model API failed ${attempt} times, last: ${result.detail}`);
      }
      if (result.retryAfterMs !== undefined && result.retryAfterMs > MAX_RETRY_AFTER_MS) {
        throw new Stop(
          `the model API asks to wait ${Math.ceil(result.retryAfterMs / 1000)} s: ${result.detail}`,
        );
      }
      await (this.options.sleep ?? abortableSleep)(
        backoffDelay(attempt, result.retryAfterMs, this.options.random),
        signal,
      );
      // Not a failure of the group's analysis: the caller stops (the daemon ending).
      if (signal.aborted) throw new DOMException("stopped", "AbortError");
    }
  }

  #settle(
    requestId: number,
    used: { inputTokens: number; outputTokens: number; costNano: number },
    s: { inputTokens: number; outputTokens: number; costNano: number; outcome: string },
  ): void {
    this.options.ledger.settle(requestId, s);
    used.inputTokens += s.inputTokens;
    used.outputTokens += s.outputTokens;
    used.costNano += s.costNano;
  }
}
