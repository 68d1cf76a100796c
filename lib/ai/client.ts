/**
 * One request to the model API and what became of it: an answer, a failure worth trying
 * again (429, 5xx, a timeout, a connection lost), or one that is not (a refused key, a bad
 * request). Waits between attempts back off exponentially with jitter, and never less than
 * the provider's `Retry-After` (or Azure's `retry-after-ms`). Answers are read up to 1 MiB.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { readCapped } from "../io.ts";
import { redactUrls } from "../redact.ts";
import type { AiSettings } from "./settings.ts";
import { errorDetail, type ModelAnswer, type ModelCall, readAnswer, requestBody } from "./wire.ts";

/** The most of an answer read. */
const MAX_ANSWER_BYTES = 1 << 20;

/** Attempts per request at most, the first among them. */
export const MAX_ATTEMPTS = 4;

/** The first wait between attempts, doubled after each, up to {@linkcode MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

/** A `Retry-After` longer than this is not waited for: the request fails now. */
export const MAX_RETRY_AFTER_MS = 120_000;

/** Why a request is worth trying again, as metrics label it. */
export type RetryReason = "rate_limited" | "server_error" | "timeout" | "network";

/** Why a request is not, as metrics label it. */
export type FatalReason = "refused" | "bad_request" | "bad_answer";

/** The outcome of one request. */
export type SendResult =
  | { kind: "answer"; answer: ModelAnswer }
  | {
    kind: "retry";
    reason: RetryReason;
    detail: string;
    /** What the provider asked to wait, when it said. */
    retryAfterMs?: number;
    /** Whether the provider may have done (and billed) the work: a request that got no answer. */
    billed: boolean;
  }
  | { kind: "fatal"; reason: FatalReason; detail: string; billed: boolean };

/** What a request needs besides the settings. */
export interface SendOptions {
  fetch?: typeof fetch;
  /** Aborts the request (the daemon stopping). */
  signal?: AbortSignal;
}

/**
 * Sends one request and sorts out its outcome; never throws for what the API or the network
 * does (an abort by `signal` is rethrown).
 *
 * @example Usage
 * ```ts ignore
 * const result = await sendOnce(settings, { system, messages, maxOutputTokens: 1000 });
 * if (result.kind === "answer") console.log(result.answer.text);
 * ```
 */
export async function sendOnce(
  settings: AiSettings,
  call: ModelCall,
  options: SendOptions = {},
): Promise<SendResult> {
  const fetcher = options.fetch ?? fetch;
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await fetcher(settings.url, {
      method: "POST",
      headers: settings.headers(),
      body: requestBody(settings.provider, settings.url, settings.model, call),
      signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    return timeout.aborted ? timedOut(settings) : {
      kind: "retry",
      reason: "network",
      detail: `cannot reach the model API: ${networkReason(error)}`,
      // A connection refused never carried the request; one lost later may have.
      billed: !/refused|not known|resolve|ENOTFOUND|ECONNREFUSED/i.test(errorMessage(error)),
    };
  }
  let text: string;
  try {
    const read = await readCapped(response.body ?? ReadableStream.from([]), MAX_ANSWER_BYTES, {
      signal,
    });
    if (timeout.aborted) return timedOut(settings);
    if (read.truncated) {
      return {
        kind: "fatal",
        reason: "bad_answer",
        detail: `the answer is larger than ${MAX_ANSWER_BYTES} bytes`,
        billed: true,
      };
    }
    text = new TextDecoder().decode(read.bytes);
  } catch (error) {
    if (options.signal?.aborted) throw error;
    if (timeout.aborted) return timedOut(settings);
    return {
      kind: "retry",
      reason: "network",
      detail: `the answer was cut off: ${networkReason(error)}`,
      billed: response.ok,
    };
  }
  if (response.status === 429 || response.status === 408 || response.status >= 500) {
    const retryAfterMs = retryAfter(response.headers, Date.now());
    return {
      kind: "retry",
      reason: response.status === 429
        ? "rate_limited"
        : response.status === 408
        ? "timeout"
        : "server_error",
      detail: `${response.status} ${errorDetail(text) || response.statusText}`,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      billed: false,
    };
  }
  if (!response.ok) {
    const refused = response.status === 401 || response.status === 403;
    return {
      kind: "fatal",
      reason: refused ? "refused" : "bad_request",
      detail: `${response.status} ${errorDetail(text) || response.statusText}${
        refused && !settings.hasKey ? " (no API key was given: see ai.apiKeyEnv)" : ""
      }`,
      billed: false,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // A 200 whose body is not JSON: a proxy's page, or an answer cut off by the server.
    return {
      kind: "retry",
      reason: "network",
      detail: `the answer is not JSON: ${errorDetail(text) || "(empty)"}`,
      billed: true,
    };
  }
  try {
    return { kind: "answer", answer: readAnswer(settings.provider, value) };
  } catch (error) {
    return { kind: "fatal", reason: "bad_answer", detail: errorMessage(error), billed: true };
  }
}

function timedOut(settings: AiSettings): SendResult {
  return {
    kind: "retry",
    reason: "timeout",
    detail: `no answer within ${settings.timeoutMs / 1000} s (ai.timeout)`,
    billed: true,
  };
}

function networkReason(error: unknown): string {
  // Messages of fetch can hold the URL; none of ours carries credentials, but a proxy's may.
  return redactUrls(errorMessage(error).split("\n")[0]!);
}

/**
 * What the provider asks to wait, in ms: `retry-after-ms` (Azure, OpenAI), else
 * `Retry-After` in seconds or as an HTTP date.
 *
 * @example Usage
 * ```ts
 * retryAfter(new Headers({ "retry-after": "2" }), 0); // 2000
 * ```
 */
export function retryAfter(headers: Headers, now: number): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * How long to wait before attempt `attempt + 1` (attempts count from 1): at least what the
 * provider asked, plus up to 250 ms so that agents on many nodes do not come back at once;
 * else an exponential backoff with equal jitter (half fixed, half random).
 *
 * @example Usage
 * ```ts
 * backoffDelay(1, 2000, () => 0); // 2000
 * backoffDelay(2, undefined, () => 0); // 1000
 * ```
 */
export function backoffDelay(
  attempt: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined) return retryAfterMs + Math.floor(random() * 250);
  const base = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, attempt - 1));
  return Math.floor(base / 2 + random() * (base / 2));
}
