/**
 * The two wire formats: OpenAI chat completions (OpenAI, Azure OpenAI, and servers that speak
 * the same API: vLLM, Ollama) and Anthropic messages. Builds the request body (streaming off)
 * and reads the answer's text, the model that answered, the usage the provider counted, and
 * whether the answer was cut at the output limit; the answer is validated by zod like any
 * other input from outside.
 *
 * @module
 */
import { z } from "zod";
import type { Provider } from "./settings.ts";

/** One message of a conversation after the system prompt. */
export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

/** What one request asks. */
export interface ModelCall {
  system: string;
  messages: ChatMessage[];
  maxOutputTokens: number;
}

/** What one answer says. */
export interface ModelAnswer {
  text: string;
  /** The model the provider says answered (Azure names the model behind the deployment). */
  model: string | null;
  /** Tokens the provider counted; `null` when its answer carries no usage. */
  inputTokens: number | null;
  outputTokens: number | null;
  /** Whether the answer stopped at the output limit. */
  cut: boolean;
}

/**
 * Whether an OpenAI-compatible endpoint is OpenAI's own or Azure's: their newer models take
 * the output limit only as `max_completion_tokens`, while vLLM and Ollama read `max_tokens`.
 */
function hostedByOpenAi(provider: Provider, url: string): boolean {
  if (provider === "azure") return true;
  const host = new URL(url).hostname;
  return host === "api.openai.com" || host.endsWith(".openai.azure.com");
}

/**
 * The JSON body of a request.
 *
 * @example Usage
 * ```ts
 * const body = requestBody("anthropic", "https://api.anthropic.com/v1/messages", "claude-x", {
 *   system: "s",
 *   messages: [{ role: "user", content: "u" }],
 *   maxOutputTokens: 100,
 * });
 * JSON.parse(body).max_tokens; // 100
 * ```
 */
export function requestBody(
  provider: Provider,
  url: string,
  model: string,
  call: ModelCall,
): string {
  if (provider === "anthropic") {
    return JSON.stringify({
      model,
      max_tokens: call.maxOutputTokens,
      system: call.system,
      messages: call.messages,
      stream: false,
    });
  }
  return JSON.stringify({
    model,
    messages: [{ role: "system", content: call.system }, ...call.messages],
    [hostedByOpenAi(provider, url) ? "max_completion_tokens" : "max_tokens"]: call.maxOutputTokens,
    // Every provider of this format checks that the messages ask for JSON: they do.
    response_format: { type: "json_object" },
    stream: false,
  });
}

const tokens = z.number().int().min(0);

const openAiAnswer = z.object({
  model: z.string().nullish(),
  choices: z.array(z.object({
    message: z.object({
      content: z.string().nullish(),
      refusal: z.string().nullish(),
    }),
    finish_reason: z.string().nullish(),
  })).min(1),
  usage: z.object({ prompt_tokens: tokens, completion_tokens: tokens }).nullish(),
});

const anthropicAnswer = z.object({
  model: z.string().nullish(),
  content: z.array(z.object({ type: z.string(), text: z.string().nullish() })),
  stop_reason: z.string().nullish(),
  usage: z.object({
    input_tokens: tokens,
    output_tokens: tokens,
    cache_creation_input_tokens: tokens.nullish(),
    cache_read_input_tokens: tokens.nullish(),
  }).nullish(),
});

/** An answer that is not what the format says. */
export class WireError extends Error {}

/**
 * Reads an answer's JSON.
 *
 * @throws {WireError} when it is not an answer of the provider's format.
 */
export function readAnswer(provider: Provider, value: unknown): ModelAnswer {
  if (provider === "anthropic") {
    const parsed = anthropicAnswer.safeParse(value);
    if (!parsed.success) throw new WireError(describe(parsed.error, "a Messages API answer"));
    const a = parsed.data;
    const usage = a.usage;
    return {
      text: a.content.filter((b) => b.type === "text").map((b) => b.text ?? "").join(""),
      model: a.model ?? null,
      // Cached prompt tokens are input too (priced lower or higher: counted as input).
      inputTokens: usage
        ? usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) +
          (usage.cache_read_input_tokens ?? 0)
        : null,
      outputTokens: usage?.output_tokens ?? null,
      cut: a.stop_reason === "max_tokens",
    };
  }
  const parsed = openAiAnswer.safeParse(value);
  if (!parsed.success) throw new WireError(describe(parsed.error, "a chat completion"));
  const a = parsed.data;
  const choice = a.choices[0]!;
  return {
    text: choice.message.content ?? "",
    model: a.model ?? null,
    inputTokens: a.usage?.prompt_tokens ?? null,
    outputTokens: a.usage?.completion_tokens ?? null,
    cut: choice.finish_reason === "length",
  };
}

function describe(error: z.ZodError, what: string): string {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
  return `not ${what}${where}: ${issue?.message ?? "unexpected shape"}`;
}

/**
 * The message of a provider's error answer (`{"error": {"message": ...}}` in both formats),
 * one line, at most 200 characters; else the start of the text.
 *
 * @example Usage
 * ```ts
 * errorDetail('{"error":{"type":"rate_limit_error","message":"slow down"}}'); // "slow down"
 * ```
 */
export function errorDetail(text: string): string {
  let detail = text;
  try {
    const value = JSON.parse(text);
    const message = value?.error?.message ?? value?.message;
    if (typeof message === "string") detail = message;
  } catch {
    // Not JSON: the text itself.
  }
  const line = detail.replace(/\s+/g, " ").trim();
  return line.length > 200 ? `${line.slice(0, 199)}\u2026` : line;
}
