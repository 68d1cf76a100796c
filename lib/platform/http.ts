/**
 * Talking to the platform over HTTP: the OAuth2 token endpoint (JWT-bearer grant) with a
 * cached access token refreshed before it expires by one request however many wait for it,
 * and POSTs with the platform's retry rules: 401 -> a new token and one more try; other 4xx
 * (but 429) -> refused, not retried; 5xx, 429, timeouts and network errors -> exponential
 * backoff with full jitter, at most `maxRetries` more tries.
 *
 * @module
 */
import { z } from "zod";
import { AgentError, errorMessage, ExitCode, UnavailableError } from "../errors.ts";
import { sleep } from "../pool.ts";
import { redactUrls } from "../redact.ts";
import type { PlatformCredentials } from "./credentials.ts";
import { signAssertion } from "./jwt.ts";

/** The platform refused a request (a 4xx other than 429): sending it again would not help. */
export class PlatformRejected extends AgentError {
  /** Creates the error from the status and what the platform said. */
  constructor(readonly status: number, message: string) {
    super(message, ExitCode.Usage);
  }
}

/** The platform could not be reached or kept failing after every retry. */
export class PlatformUnreachable extends UnavailableError {}

/** No usable credentials (yet): nothing can be sent until they are there. */
export class CredentialsMissing extends PlatformUnreachable {}

/** Retry settings. */
export interface RetryOptions {
  /** More tries after the first (default 5). */
  maxRetries?: number;
  /** First backoff bound (default 500 ms), doubling per retry up to `maxBackoffMs` (30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Per-try timeout (default 30 s). */
  timeoutMs?: number;
  random?: () => number;
}

/** Options of {@linkcode PlatformHttp}. */
export interface PlatformHttpOptions extends RetryOptions {
  /** The platform's base URL; also the assertions' audience. */
  url: string;
  /** The current credentials (they are reloaded when their Secret changes). */
  credentials: () => PlatformCredentials;
  fetch?: typeof fetch;
  now?: () => number;
  /** Told of each token fetched. */
  onTokenRefresh?: () => void;
  /** Told of each retry of a request to `path`. */
  onRetry?: (path: string, reason: string) => void;
}

const TokenAnswer = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive().optional(),
});

/** A request body: text, or a factory of a fresh stream for every try (a snapshot). */
export type Body = string | (() => ReadableStream<Uint8Array>);

interface Token {
  value: string;
  expiresAt: number;
  refreshAt: number;
}

/** What a try ended with, for the retry loop. */
type Outcome = { ok: true } | { ok: false; retry: boolean; error: Error };

/**
 * An HTTP client of the platform.
 *
 * @example Usage
 * ```ts ignore
 * const platform = new PlatformHttp({ url, credentials: () => credentials });
 * await platform.post("/api/v1/agent/heartbeat", JSON.stringify(beat), signal);
 * ```
 */
export class PlatformHttp {
  #token: Token | undefined;
  #refreshing: Promise<string> | undefined;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  #base: string;

  /** Creates a client; nothing is sent until the first request. */
  constructor(private readonly options: PlatformHttpOptions) {
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? Date.now;
    this.#base = options.url.replace(/\/+$/, "");
  }

  /** Forgets the cached token (new credentials). */
  resetToken(): void {
    this.#token = undefined;
  }

  /**
   * The access token for another protocol to the same platform (gRPC): cached, or fetched.
   *
   * @throws {PlatformRejected} when the platform refuses the assertion.
   * @throws {PlatformUnreachable} when the token endpoint cannot be reached.
   */
  token(signal: AbortSignal): Promise<string> {
    return this.#accessToken(signal);
  }

  /** Forgets `token` if it is the cached one (the platform said it is no longer valid). */
  invalidate(token: string): void {
    if (this.#token?.value === token) this.#token = undefined;
  }

  /** Sends to another platform from now on (its token is fetched anew: the audience changed). */
  retarget(url: string): void {
    const base = url.replace(/\/+$/, "");
    if (base === this.#base) return;
    this.#base = base;
    this.#token = undefined;
  }

  /**
   * POSTs `body` as JSON to `path` with a bearer token, under the retry rules.
   *
   * @throws {PlatformRejected} when the platform refuses it.
   * @throws {PlatformUnreachable} when every try failed.
   */
  async post(
    path: string,
    body: Body,
    signal: AbortSignal,
    onRetry?: (reason: string) => void,
  ): Promise<void> {
    let reauthorized = false;
    await this.#withRetries(path, signal, onRetry, async () => {
      const token = await this.#accessToken(signal);
      const response = await this.#send(path, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: typeof body === "string" ? body : body(),
      }, signal);
      if (response.status === 401 && !reauthorized) {
        // An expired or revoked token: a new one, and one more try that is not a retry.
        await response.body?.cancel();
        reauthorized = true;
        if (this.#token?.value === token) this.#token = undefined;
        return await this.#tryAgainNow(path, body, signal);
      }
      return await outcomeOf(response, `POST ${path}`);
    });
  }

  async #tryAgainNow(path: string, body: Body, signal: AbortSignal): Promise<Outcome> {
    const token = await this.#accessToken(signal);
    const response = await this.#send(path, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : body(),
    }, signal);
    return await outcomeOf(response, `POST ${path}`);
  }

  /** The cached token, or a new one; concurrent callers share one token request. */
  #accessToken(signal: AbortSignal): Promise<string> {
    const token = this.#token;
    if (token && this.#now() < token.refreshAt) return Promise.resolve(token.value);
    this.#refreshing ??= this.#withRetriesValue(
      "/oauth/token",
      signal,
      undefined,
      () => this.#fetchToken(signal),
    )
      .finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #fetchToken(signal: AbortSignal): Promise<{ ok: true; value: string } | Outcome> {
    const assertion = signAssertion(this.options.credentials(), this.#base, this.#now());
    const response = await this.#send("/oauth/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
        assertion,
      }).toString(),
    }, signal);
    if (!response.ok) return await outcomeOf(response, "token request");
    let parsed: z.infer<typeof TokenAnswer>;
    try {
      parsed = TokenAnswer.parse(await response.json());
    } catch (error) {
      return {
        ok: false,
        retry: true,
        error: new Error(`token request: unusable answer (${errorMessage(error).split("\n")[0]})`),
      };
    }
    const now = this.#now();
    const lifetime = (parsed.expires_in ?? 3600) * 1000;
    // Refreshed ahead of expiry: a fifth of its life early, at most a minute.
    this.#token = {
      value: parsed.access_token,
      expiresAt: now + lifetime,
      refreshAt: now + lifetime - Math.min(60_000, lifetime / 5),
    };
    this.options.onTokenRefresh?.();
    return { ok: true, value: parsed.access_token };
  }

  /** One try: a fetch with the per-try timeout; network errors become a retryable outcome. */
  async #send(path: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
    return await this.#fetch(`${this.#base}${path}`, {
      ...init,
      signal: AbortSignal.any([signal, timeout]),
    });
  }

  async #withRetries(
    path: string,
    signal: AbortSignal,
    onRetry: ((reason: string) => void) | undefined,
    attempt: () => Promise<Outcome>,
  ): Promise<void> {
    await this.#withRetriesValue(path, signal, onRetry, async () => {
      const outcome = await attempt();
      return outcome.ok ? { ok: true, value: undefined } : outcome;
    });
  }

  async #withRetriesValue<T>(
    path: string,
    signal: AbortSignal,
    onRetry: ((reason: string) => void) | undefined,
    attempt: () => Promise<{ ok: true; value: T } | Outcome>,
  ): Promise<T> {
    const o = this.options;
    const maxRetries = o.maxRetries ?? 5;
    const random = o.random ?? Math.random;
    for (let tries = 0;; tries++) {
      let outcome: { ok: true; value?: T } | Outcome;
      try {
        outcome = await attempt();
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof PlatformRejected || error instanceof PlatformUnreachable) throw error;
        const timedOut = error instanceof DOMException && error.name === "TimeoutError";
        outcome = {
          ok: false,
          retry: true,
          error: new Error(
            timedOut
              ? `no answer within ${(o.timeoutMs ?? 30_000) / 1000} s`
              : redactUrls(networkReason(error)),
          ),
        };
      }
      if (outcome.ok) return (outcome as { value: T }).value;
      if (!outcome.retry) throw outcome.error;
      if (tries >= maxRetries) {
        throw new PlatformUnreachable(
          `Cannot reach the platform at ${this.#base}${path}: ${outcome.error.message} (after ${
            tries + 1
          } tries)`,
          { cause: outcome.error },
        );
      }
      o.onRetry?.(path, outcome.error.message);
      onRetry?.(outcome.error.message);
      const bound = Math.min(o.maxBackoffMs ?? 30_000, (o.initialBackoffMs ?? 500) * 2 ** tries);
      await sleep(Math.round(bound * random()), signal);
      if (signal.aborted) throw signal.reason ?? new DOMException("aborted", "AbortError");
    }
  }
}

/** What a response means for the retry rules. */
async function outcomeOf(response: Response, what: string): Promise<Outcome> {
  if (response.ok) {
    await response.body?.cancel();
    return { ok: true };
  }
  const text = await readShort(response);
  const message = `${what}: ${response.status} ${text || response.statusText}`;
  if (response.status >= 500 || response.status === 429) {
    return { ok: false, retry: true, error: new Error(message) };
  }
  return {
    ok: false,
    retry: false,
    error: new PlatformRejected(response.status, `Platform refused ${message}`),
  };
}

/** The first 200 characters of an error answer, on one line. */
async function readShort(response: Response): Promise<string> {
  try {
    const text = await response.text();
    return text.replace(/\s+/g, " ").trim().slice(0, 200);
  } catch {
    return "";
  }
}

function networkReason(error: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = error; e !== undefined && messages.length < 4; e = (e as Error)?.cause) {
    messages.push(errorMessage(e));
  }
  const text = messages.join(": ");
  if (/Connection refused/i.test(text)) return "connection refused";
  if (/connection (closed|reset)|incomplete message|unexpected eof|broken pipe/i.test(text)) {
    return "connection closed before an answer";
  }
  return messages.at(-1)!.split("\n")[0]!;
}
