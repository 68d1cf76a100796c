/**
 * AI crash analysis: an explanation and fix suggestions for valuable cores from an
 * OpenAI-compatible (OpenAI, Azure OpenAI, vLLM, Ollama) or Anthropic model, once per crash
 * group, within hard cost limits, with nothing sensitive sent. The crash context is a
 * whitelist read out of the analysis ({@linkcode crashContext}); the prompt is cut to an
 * input-token budget ({@linkcode buildPrompt}); answers are validated by zod and asked once
 * more when they do not validate; every request is reserved in the cost ledger in the state
 * database before it is sent ({@linkcode AiLedger}); {@linkcode Explainer} joins it all.
 *
 * @module
 */
export { type AiSettings, aiSettings, priceOf, type Provider, requestUrl } from "./settings.ts";
export {
  type ContextFacts,
  type ContextRestart,
  type CrashContext,
  crashContext,
} from "./context.ts";
export { buildPrompt, estimateTokens, type Prompt, SYSTEM_PROMPT } from "./prompt.ts";
export { type AiResult, aiResultSchema, parseAnswer, summaryLine } from "./result.ts";
export { backoffDelay, retryAfter, sendOnce, type SendResult } from "./client.ts";
export {
  AiLedger,
  type AnalysisRecord,
  monthOf,
  NANO,
  tokenCost,
  type UsageReport,
} from "./ledger.ts";
export {
  type AiOutcome,
  Explainer,
  type ExplainerOptions,
  type ExplainRequest,
  type Explanation,
  FAILED_GROUP_WAIT_MS,
  type RequestEvent,
  SKIP_REASONS,
  type SkipReason,
} from "./explain.ts";
export {
  AiCoreQueue,
  type CoreAi,
  type CoreAiState,
  explanationDocument,
  type QueuedCore,
} from "./queue.ts";
