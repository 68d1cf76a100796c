/**
 * A model API emulator on 127.0.0.1 speaking the two wire formats the agent uses, as their
 * providers document them:
 *
 * - OpenAI chat completions: `POST …/chat/completions` with `Authorization: Bearer KEY`
 *   (OpenAI, vLLM, Ollama), or Azure OpenAI's
 *   `POST /openai/deployments/{deployment}/chat/completions?api-version=…` with `api-key`;
 *   answers `chat.completion` objects with `usage.prompt_tokens`/`completion_tokens` and
 *   `finish_reason` `stop` or `length`; errors as `{"error": {"message", "type", "code"}}`.
 * - Anthropic messages: `POST …/messages` with `x-api-key` and `anthropic-version`; answers
 *   `message` objects with text content blocks, `usage.input_tokens`/`output_tokens` and
 *   `stop_reason` `end_turn` or `max_tokens`; errors as
 *   `{"type": "error", "error": {"type", "message"}}`.
 *
 * Streaming is refused (the agent never asks for it). Answers are recorded explanations of
 * the sample crashes, picked by what the prompt says. Faults are queued for the next requests:
 * 429 with `Retry-After`, 500, a request held until the client gives up, an answer cut at the
 * output limit, an answer that is not JSON, a body cut off mid-way, an answer without usage.
 * Usage is counted deterministically: a token per 4 bytes of the messages and of the answer.
 *
 * @module
 */

/** One request as the emulator received it. */
export interface ReceivedRequest {
  format: "openai" | "azure" | "anthropic";
  path: string;
  query: string;
  headers: Record<string, string>;
  /** The body as sent: the text the canary tests search. */
  body: string;
  json: Record<string, unknown>;
  /** What the answer counted (0 for a fault without an answer). */
  usage: { input: number; output: number };
  /** The fault applied, if any. */
  fault: Fault["kind"] | null;
  at: number;
}

/** A fault applied to one request. */
export type Fault =
  | { kind: "status"; status: number; retryAfter?: string; retryAfterMs?: string }
  | { kind: "hang" }
  | { kind: "truncated" }
  | { kind: "nonjson" }
  | { kind: "invalid" }
  | { kind: "cut-body" }
  | { kind: "no-usage" };

/** Options of {@linkcode ModelApiEmulator.start}. */
export interface ModelApiOptions {
  /** The key every request must carry; none checks nothing. */
  key?: string;
  /** Multiplies the usage reported (a provider that counts more than the bytes suggest). */
  usageScale?: number;
}

/** Recorded explanations, by what the crash report shows. */
const ANSWERS: { when: RegExp; answer: Record<string, unknown> }[] = [
  {
    when: /Message: .*Assertion/,
    answer: {
      summary:
        "An assertion in check() failed: the function was called with a value its contract forbids.",
      rootCause:
        "check() at assert.c asserts its argument is positive; main() passes a value that is not. The abort comes from __assert_fail, so the fault is the caller's, not the C library's.",
      impact:
        "The process aborts on this input every time; a container running it restarts in a loop until the input changes.",
      recommendations: [
        "Validate the value before calling check() and report bad input instead of aborting.",
        "Add a test that calls check() with 0 and a negative value.",
      ],
      confidence: 0.86,
      codeSuggestions: [{
        file: "assert.c",
        line: 6,
        suggestion: "Return an error for non-positive values instead of asserting.",
      }],
      relatedIssues: ["assertion failure in input validation"],
    },
  },
  {
    when: /SIGSEGV/,
    answer: {
      summary:
        "The process read through a null pointer in the innermost frame of the program and was killed by SIGSEGV.",
      rootCause:
        "The function at the attributed frame dereferences a pointer its caller passed as null (fault address 0x0): the caller does not check the result it forwards.",
      impact:
        "Every request taking this path crashes the component; Milvus restarts the pod and in-flight queries on it fail.",
      recommendations: [
        "Check the pointer for null before dereferencing it and return an error to the caller.",
        "Find where the caller obtains the pointer and why it can be null (a failed lookup, an uninitialised field).",
        "Add a regression test that passes a null pointer.",
      ],
      confidence: 0.78,
      codeSuggestions: [{
        file: "segv.c",
        line: 5,
        suggestion: "Guard the dereference: if (p == NULL) return -1;",
      }],
      relatedIssues: ["null pointer dereference on an unchecked lookup result"],
    },
  },
  {
    when: /SIGABRT|panic|fatal error/,
    answer: {
      summary: "The program aborted itself after detecting an inconsistent state.",
      rootCause:
        "The abort was raised on purpose by the program (or its runtime) at the attributed frame: a check failed there.",
      impact: "The component stops at once; requests it served fail until it restarts.",
      recommendations: ["Read the abort message and the frames around the check that failed."],
      confidence: 0.55,
      codeSuggestions: [],
      relatedIssues: [],
    },
  },
  {
    when: /[\s\S]*/,
    answer: {
      summary: "The process crashed; the evidence is thin.",
      rootCause: "Not enough symbolized frames to say.",
      impact: "The component restarts.",
      recommendations: ["Collect the executable's debug symbols and analyze the core again."],
      confidence: 0.2,
      codeSuggestions: [],
      relatedIssues: [],
    },
  },
];

const encoder = new TextEncoder();

function tokensOf(text: string): number {
  return Math.ceil(encoder.encode(text).length / 4);
}

/** The emulator. */
export class ModelApiEmulator {
  readonly requests: ReceivedRequest[] = [];
  readonly #faults: Fault[] = [];
  #always: Fault | undefined;
  readonly #held = new Set<() => void>();
  #hold: { promise: Promise<void>; release: () => void } | undefined;

  private constructor(
    private readonly server: Deno.HttpServer<Deno.NetAddr>,
    readonly options: ModelApiOptions,
    private readonly abort: AbortController,
  ) {}

  /** Starts the emulator on a free port of 127.0.0.1. */
  static start(options: ModelApiOptions = {}): Promise<ModelApiEmulator> {
    const abort = new AbortController();
    const handler: { emulator?: ModelApiEmulator } = {};
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: abort.signal, onListen: () => {} },
      (request) => handler.emulator!.#handle(request),
    );
    handler.emulator = new ModelApiEmulator(server, options, abort);
    return Promise.resolve(handler.emulator);
  }

  /** `http://127.0.0.1:PORT`. */
  get url(): string {
    return `http://127.0.0.1:${this.server.addr.port}`;
  }

  /** Applies `faults` to the next requests, one each, in order. */
  inject(...faults: Fault[]): void {
    this.#faults.push(...faults);
  }

  /** Applies `fault` to every request from now on (`undefined` to stop). */
  always(fault: Fault | undefined): void {
    this.#always = fault;
  }

  /**
   * Holds every answer from now on until the returned function is called (or the emulator
   * stops): a test that needs the answer after something else happened.
   */
  hold(): () => void {
    const { promise, resolve } = Promise.withResolvers<void>();
    const release = () => {
      if (this.#hold?.promise === promise) this.#hold = undefined;
      resolve();
    };
    this.#hold = { promise, release };
    return release;
  }

  /** The usage the emulator reported in all, in tokens. */
  usage(): { input: number; output: number } {
    return this.requests.reduce(
      (sum, r) => ({ input: sum.input + r.usage.input, output: sum.output + r.usage.output }),
      { input: 0, output: 0 },
    );
  }

  /** Stops the server, releasing held requests first. */
  async stop(): Promise<void> {
    for (const release of this.#held) release();
    this.#hold?.release();
    this.abort.abort();
    await this.server.finished;
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const format = url.pathname.endsWith("/messages")
      ? "anthropic"
      : /^\/openai\/deployments\/[^/]+\/chat\/completions$/.test(url.pathname)
      ? "azure"
      : url.pathname.endsWith("/chat/completions")
      ? "openai"
      : undefined;
    if (request.method !== "POST" || !format) {
      return error("openai", 404, "not_found_error", `no route ${request.method} ${url.pathname}`);
    }
    const body = await request.text();
    const headers = Object.fromEntries(request.headers);
    const received: ReceivedRequest = {
      format,
      path: url.pathname,
      query: url.search,
      headers,
      body,
      json: {},
      usage: { input: 0, output: 0 },
      fault: null,
      at: Date.now(),
    };
    this.requests.push(received);
    const refusal = this.#check(format, url, request.headers, body, received);
    if (refusal) return refusal;
    const fault = this.#faults.shift() ?? this.#always;
    received.fault = fault?.kind ?? null;
    if (fault?.kind === "status") {
      const extra: Record<string, string> = {};
      if (fault.retryAfter !== undefined) extra["retry-after"] = fault.retryAfter;
      if (fault.retryAfterMs !== undefined) extra["retry-after-ms"] = fault.retryAfterMs;
      const type = fault.status === 429 ? "rate_limit_error" : "api_error";
      return error(format, fault.status, type, `emulated ${fault.status}`, extra);
    }
    if (fault?.kind === "hang") {
      // Held until the emulator stops: the client gives up first.
      await new Promise<void>((resolve) => {
        const release = () => {
          this.#held.delete(release);
          resolve();
        };
        this.#held.add(release);
      });
      return new Response(null, { status: 504 });
    }
    await this.#hold?.promise;
    const messages = received.json.messages as { role: string; content: string }[];
    // The crash report is the user's part; the instructions say nothing of one crash.
    const prompt = messages.filter((m) => m.role === "user").map((m) => m.content).join("\n");
    let text = JSON.stringify(ANSWERS.find((a) => a.when.test(prompt))!.answer, null, 2);
    let cut = false;
    if (fault?.kind === "truncated") {
      text = text.slice(0, Math.floor(text.length / 2));
      cut = true;
    } else if (fault?.kind === "nonjson") {
      text =
        "The crash looks like a null pointer dereference; check the caller of the first frame.";
    } else if (fault?.kind === "invalid") {
      text = JSON.stringify({ summary: "A crash.", confidence: 7 });
    }
    const scale = this.options.usageScale ?? 1;
    const inputText = messages.map((m) => m.content).join("") + String(received.json.system ?? "");
    received.usage = {
      input: Math.ceil(tokensOf(inputText) * scale),
      output: Math.ceil(tokensOf(text) * scale),
    };
    const model = String(received.json.model ?? "deployment-model");
    const answer = format === "anthropic"
      ? {
        id: `msg_${this.requests.length}`,
        type: "message",
        role: "assistant",
        model,
        content: [{ type: "text", text }],
        stop_reason: cut ? "max_tokens" : "end_turn",
        stop_sequence: null,
        ...(fault?.kind === "no-usage" ? {} : {
          usage: {
            input_tokens: received.usage.input,
            output_tokens: received.usage.output,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
          },
        }),
      }
      : {
        id: `chatcmpl-${this.requests.length}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        // Azure names the model behind the deployment.
        model: format === "azure" ? "gpt-4o-2024-08-06" : model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: text, refusal: null },
          logprobs: null,
          finish_reason: cut ? "length" : "stop",
        }],
        ...(fault?.kind === "no-usage" ? {} : {
          usage: {
            prompt_tokens: received.usage.input,
            completion_tokens: received.usage.output,
            total_tokens: received.usage.input + received.usage.output,
          },
        }),
        system_fingerprint: "fp_emulator",
      };
    if (fault?.kind === "no-usage") received.usage = { input: 0, output: 0 };
    const json = JSON.stringify(answer);
    if (fault?.kind === "cut-body") {
      // The first half of the body, as a proxy that lost the upstream connection sends it.
      return new Response(json.slice(0, Math.floor(json.length / 2)), {
        headers: { "content-type": "application/json" },
      });
    }
    return new Response(json, { headers: { "content-type": "application/json" } });
  }

  /** The answer refusing a request that is not of its format, or `undefined`. */
  #check(
    format: ReceivedRequest["format"],
    url: URL,
    headers: Headers,
    body: string,
    received: ReceivedRequest,
  ): Response | undefined {
    const key = this.options.key;
    const given = format === "anthropic"
      ? headers.get("x-api-key")
      : format === "azure"
      ? headers.get("api-key")
      : headers.get("authorization")?.replace(/^Bearer /, "");
    if (key !== undefined && given !== key) {
      return error(format, 401, "authentication_error", "invalid api key");
    }
    if (format === "anthropic" && !headers.get("anthropic-version")) {
      return error(format, 400, "invalid_request_error", "anthropic-version: header is required");
    }
    if (format === "azure" && !url.searchParams.get("api-version")) {
      return error(format, 404, "not_found_error", "Resource not found (no api-version)");
    }
    if (!(headers.get("content-type") ?? "").startsWith("application/json")) {
      return error(format, 400, "invalid_request_error", "expected application/json");
    }
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(body);
    } catch {
      return error(format, 400, "invalid_request_error", "the body is not JSON");
    }
    received.json = json;
    const messages = json.messages;
    const problems: string[] = [];
    if (format !== "azure" && (typeof json.model !== "string" || !json.model)) {
      problems.push("model: required");
    }
    if (!Array.isArray(messages) || messages.length === 0) problems.push("messages: required");
    else if (
      !messages.every((m) =>
        typeof m?.content === "string" &&
        (format === "anthropic" ? ["user", "assistant"] : ["system", "user", "assistant"])
          .includes(m?.role)
      )
    ) problems.push("messages: each needs a role and string content");
    if (json.stream === true) problems.push("stream: not supported by this emulator");
    if (format === "anthropic") {
      if (!Number.isInteger(json.max_tokens)) problems.push("max_tokens: required");
      if (typeof json.system !== "string") problems.push("system: expected a string");
    } else if (
      json.max_tokens !== undefined && json.max_completion_tokens !== undefined
    ) problems.push("max_tokens and max_completion_tokens: only one may be given");
    if (problems.length > 0) {
      return error(format, 400, "invalid_request_error", problems.join("; "));
    }
    return undefined;
  }
}

function error(
  format: ReceivedRequest["format"],
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const body = format === "anthropic" ? { type: "error", error: { type, message } } : {
    error: { message, type, param: null, code: status === 429 ? "rate_limit_exceeded" : null },
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
