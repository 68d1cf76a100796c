import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, assertStringIncludes } from "../../tests/support/assert.ts";
import { type Fault, ModelApiEmulator } from "../../tests/support/model_api.ts";
import { Explainer, type ExplainerOptions } from "./explain.ts";
import { AiLedger, tokenCost } from "./ledger.ts";
import type { AiSettings } from "./settings.ts";
import { sampleContext, testSettings } from "./testdata/fixtures.ts";

interface Harness {
  emu: ModelApiEmulator;
  ledger: AiLedger;
  waits: number[];
  explainer(
    settings?: Partial<AiSettings>,
    options?: Partial<ExplainerOptions>,
  ): Promise<Explainer>;
}

async function withEmulator(
  fn: (h: Harness) => Promise<void>,
  emulatorOptions: { key?: string; usageScale?: number } = {},
  provider: { provider?: string; path?: string } = {},
): Promise<void> {
  const emu = await ModelApiEmulator.start({ key: "sk-test", ...emulatorOptions });
  const db = new DatabaseSync(":memory:");
  const ledger = new AiLedger(db);
  const waits: number[] = [];
  try {
    await fn({
      emu,
      ledger,
      waits,
      explainer: async (overrides = {}, options = {}) => {
        const settings = await testSettings(`${emu.url}${provider.path ?? "/v1"}`, {
          ...(provider.provider ? { provider: provider.provider } : {}),
        });
        return new Explainer({
          settings: { ...settings, ...overrides },
          ledger,
          sleep: (ms) => {
            waits.push(ms);
            return Promise.resolve();
          },
          random: () => 0,
          ...options,
        });
      },
    });
  } finally {
    db.close();
    await emu.stop();
  }
}

Deno.test("Explainer explains a crash once per crash group, then answers from the cache", () =>
  withEmulator(async ({ emu, explainer }) => {
    const ai = await explainer();
    const first = await ai.explain({ context: sampleContext(), score: 8 });
    assertEquals(first.status, "explained", first.reason ?? "");
    assertStringIncludes(first.result!.summary, "null pointer");
    assertEquals(first.usage.requests, 1);
    const [request] = emu.requests;
    assertEquals(request!.format, "openai");
    assertEquals(request!.headers.authorization, "Bearer sk-test");
    assertEquals(request!.json.model, "gpt-test");
    assertEquals(request!.json.stream, false);
    // A server that is not OpenAI's own gets max_tokens, which vLLM and Ollama read.
    assert(typeof request!.json.max_tokens === "number");
    const usage = emu.usage();
    assertEquals(
      first.usage.cost,
      tokenCost(usage.input, usage.output, { input: 2, output: 8 }) / 1e9,
    );
    const again = await ai.explain({ context: sampleContext(), score: 8 });
    assertEquals([again.status, again.analysisId, again.usage.requests], [
      "cached",
      first.analysisId,
      0,
    ]);
    assertEquals(again.result, first.result);
    assertEquals(emu.requests.length, 1);
    const forced = await ai.explain({ context: sampleContext(), score: 8, force: true });
    assertEquals(forced.status, "explained");
    assertEquals(emu.requests.length, 2);
  }));

Deno.test("Explainer skips cores below ai.minScore unless forced", () =>
  withEmulator(async ({ emu, explainer }) => {
    const ai = await explainer({ minScore: 7 });
    const low = await ai.explain({ context: sampleContext(), score: 6.5 });
    assertEquals([low.status, low.skip], ["skipped", "below_min_score"]);
    assertEquals(emu.requests.length, 0);
    const forced = await ai.explain({ context: sampleContext(), score: 6.5, force: true });
    assertEquals(forced.status, "explained");
  }));

Deno.test("Explainer waits as Retry-After says after a 429, and tries 5xx again", () =>
  withEmulator(async ({ emu, waits, explainer }) => {
    emu.inject(
      { kind: "status", status: 429, retryAfter: "7" },
      { kind: "status", status: 500 },
      { kind: "status", status: 503, retryAfterMs: "1500" },
    );
    const result = await (await explainer()).explain({ context: sampleContext(), score: 9 });
    assertEquals(result.status, "explained", result.reason ?? "");
    assertEquals(waits, [7000, 1000, 1500]);
    assertEquals(result.usage.requests, 4);
    // 429 and 5xx are not billed.
    const usage = emu.usage();
    assertEquals(
      result.usage.cost,
      tokenCost(usage.input, usage.output, { input: 2, output: 8 }) / 1e9,
    );
  }));

Deno.test("Explainer fails after the attempts run out, and leaves the group alone for an hour", () =>
  withEmulator(async ({ emu, explainer }) => {
    emu.always({ kind: "status", status: 500 });
    let now = new Date("2026-11-22T10:00:00Z");
    const ai = await explainer({}, { now: () => now });
    const failed = await ai.explain({ context: sampleContext(), score: 9 });
    assertEquals(failed.status, "failed");
    assertStringIncludes(failed.reason!, "failed 4 times, last: 500 emulated 500");
    assertEquals(emu.requests.length, 4);
    const soon = await ai.explain({ context: sampleContext(), score: 9 });
    assertEquals([soon.status, soon.skip], ["skipped", "recent_failure"]);
    assertEquals(emu.requests.length, 4);
    emu.always(undefined);
    now = new Date("2026-11-22T11:00:01Z");
    assertEquals((await ai.explain({ context: sampleContext(), score: 9 })).status, "explained");
  }));

Deno.test("Explainer refuses to wait longer than two minutes for a rate limit", () =>
  withEmulator(async ({ emu, waits, explainer }) => {
    emu.inject({ kind: "status", status: 429, retryAfter: "600" });
    const result = await (await explainer()).explain({ context: sampleContext(), score: 9 });
    assertEquals(result.status, "failed");
    assertStringIncludes(result.reason!, "asks to wait 600 s");
    assertEquals(waits, []);
  }));

Deno.test("Explainer asks once more with the validation error, then gives up", () =>
  withEmulator(async ({ emu, explainer }) => {
    const ai = await explainer();
    for (const kind of ["truncated", "nonjson", "invalid"] as const) {
      emu.inject({ kind });
      const result = await ai.explain({
        context: sampleContext({ fingerprint: `fp-${kind}` }),
        score: 9,
      });
      assertEquals(result.status, "explained", `${kind}: ${result.reason}`);
      assertEquals(result.usage.requests, 2);
      const retry = emu.requests.at(-1)!.json.messages as { role: string; content: string }[];
      assertEquals(retry.map((m) => m.role), ["system", "user", "assistant", "user"]);
      assertStringIncludes(retry[3]!.content, "Your answer was refused:");
    }
    assertStringIncludes(
      (emu.requests[1]!.json.messages as { content: string }[])[3]!.content,
      "cut at the output limit",
    );
    emu.inject({ kind: "nonjson" }, { kind: "invalid" });
    const failed = await ai.explain({
      context: sampleContext({ fingerprint: "fp-bad" }),
      score: 9,
    });
    assertEquals(failed.status, "failed");
    assertStringIncludes(failed.reason!, "did not validate twice");
  }));

Deno.test("Explainer tries a request that timed out again, counting it at its worst case", () =>
  withEmulator(async ({ emu, ledger, explainer }) => {
    emu.inject({ kind: "hang" }, { kind: "cut-body" });
    const ai = await explainer({ timeoutMs: 300 });
    const result = await ai.explain({ context: sampleContext(), score: 9 });
    assertEquals(result.status, "explained", result.reason ?? "");
    assertEquals(result.usage.requests, 3);
    // The two requests without an answer may have been billed: each at its worst case.
    const usage = emu.usage();
    const answered = tokenCost(usage.input, usage.output, { input: 2, output: 8 });
    assert(result.usage.cost * 1e9 > answered * 2, `${result.usage.cost}`);
    assertEquals(ledger.usage(new Date()).cost, result.usage.cost);
  }));

Deno.test("Explainer counts an answer without usage at its worst case", () =>
  withEmulator(async ({ emu, explainer }) => {
    emu.inject({ kind: "no-usage" });
    const result = await (await explainer()).explain({ context: sampleContext(), score: 9 });
    assertEquals(result.status, "explained");
    assert(result.usage.cost > 0);
  }));

Deno.test("Explainer stops at ai.maxCostPerMonth exactly: no request could pass it", () =>
  withEmulator(async ({ emu, ledger, explainer }) => {
    // A request's worst case (every input byte a token, the whole output) is about 0.016 at
    // these prices; what the emulator bills is about 0.003.
    const limit = 0.025;
    const ai = await explainer({ maxCostPerMonth: limit, maxAnalysisPerHour: 100 });
    const results = [];
    for (let i = 0; i < 8; i++) {
      results.push(
        await ai.explain({ context: sampleContext({ fingerprint: `g${i}` }), score: 9 }),
      );
    }
    const statuses = results.map((r) => r.status);
    const explained = statuses.filter((s) => s === "explained").length;
    assert(explained >= 2, statuses.join());
    // Once one is refused, every later one is: nothing more reaches the API.
    assertEquals(statuses.slice(explained).every((s) => s === "skipped"), true, statuses.join());
    assertEquals(results.at(-1)!.skip, "monthly_budget");
    assertEquals(emu.requests.length, explained);
    const spent = ledger.usage(new Date()).cost;
    const usage = emu.usage();
    assertEquals(spent, tokenCost(usage.input, usage.output, { input: 2, output: 8 }) / 1e9);
    // Within the limit, and stopped exactly where one more request could have passed it.
    const { reserved_nano: worst } = ledger.db.prepare(
      "SELECT reserved_nano FROM ai_requests ORDER BY id DESC LIMIT 1",
    ).get() as { reserved_nano: number };
    assert(spent <= limit, String(spent));
    assert(spent * 1e9 + worst > limit * 1e9, `${spent} + ${worst / 1e9} <= ${limit}`);
  }));

Deno.test("Explainer stops once a provider's usage crosses the month's budget mid-run", () =>
  withEmulator(async ({ emu, ledger, explainer }) => {
    // The provider counts ten times what the bytes suggest: an answer costs more than its
    // reservation, the spend passes the limit, and nothing is sent after that.
    const limit = 0.08;
    const ai = await explainer({ maxCostPerMonth: limit, maxAnalysisPerHour: 100 });
    const statuses: string[] = [];
    let crossedAfter: number | undefined;
    for (let i = 0; i < 8; i++) {
      const result = await ai.explain({
        context: sampleContext({ fingerprint: `h${i}` }),
        score: 9,
      });
      statuses.push(result.status);
      if (crossedAfter === undefined && ledger.usage(new Date()).cost > limit) crossedAfter = i + 1;
    }
    assert(crossedAfter !== undefined && crossedAfter < 8, statuses.join());
    assertEquals(emu.requests.length, crossedAfter, statuses.join());
    assertEquals(statuses.slice(crossedAfter).every((s) => s === "skipped"), true, statuses.join());
    const usage = emu.usage();
    assertEquals(
      ledger.usage(new Date()).cost,
      tokenCost(usage.input, usage.output, { input: 2, output: 8 }) / 1e9,
    );
  }, { usageScale: 10 }));

Deno.test("Explainer keeps ai.maxAnalysisPerHour across explainers sharing the database", () =>
  withEmulator(async ({ emu, explainer }) => {
    let now = new Date("2026-11-22T10:00:00Z");
    const a = await explainer({ maxAnalysisPerHour: 2 }, { now: () => now });
    const b = await explainer({ maxAnalysisPerHour: 2 }, { now: () => now });
    assertEquals(
      (await a.explain({ context: sampleContext({ fingerprint: "1" }), score: 9 })).status,
      "explained",
    );
    assertEquals(
      (await b.explain({ context: sampleContext({ fingerprint: "2" }), score: 9 })).status,
      "explained",
    );
    const third = await a.explain({ context: sampleContext({ fingerprint: "3" }), score: 9 });
    assertEquals([third.status, third.skip], ["skipped", "hourly_limit"]);
    // Cached answers cost nothing and are not limited.
    assertEquals(
      (await b.explain({ context: sampleContext({ fingerprint: "1" }), score: 9 })).status,
      "cached",
    );
    assertEquals(emu.requests.length, 2);
    now = new Date("2026-11-22T11:00:01Z");
    assertEquals(
      (await b.explain({ context: sampleContext({ fingerprint: "3" }), score: 9 })).status,
      "explained",
    );
  }));

Deno.test("Explainer does not ask again when the token cap leaves no room", () =>
  withEmulator(async ({ emu, explainer }) => {
    emu.inject({ kind: "nonjson" });
    const ai = await explainer({ maxTokensPerAnalysis: 2600, maxInputTokens: 1400 });
    const result = await ai.explain({ context: sampleContext(), score: 9 });
    assertEquals(result.status, "failed");
    assertStringIncludes(result.reason!, "ai.maxTokensPerAnalysis (2600) reached");
    assertEquals(emu.requests.length, 1);
  }));

Deno.test("Explainer speaks Anthropic's messages format", () =>
  withEmulator(
    async ({ emu, explainer }) => {
      const result = await (await explainer()).explain({ context: sampleContext(), score: 9 });
      assertEquals(result.status, "explained", result.reason ?? "");
      const [request] = emu.requests;
      assertEquals(request!.format, "anthropic");
      assertEquals(request!.headers["x-api-key"], "sk-test");
      assertEquals(request!.headers["anthropic-version"], "2023-06-01");
      assertEquals(typeof request!.json.system, "string");
      assertEquals(request!.json.max_tokens, 1500);
      const usage = emu.usage();
      assertEquals(result.usage.inputTokens, usage.input);
    },
    {},
    { provider: "anthropic" },
  ));

Deno.test("Explainer speaks Azure OpenAI's deployment URL and api-key header", () =>
  withEmulator(
    async ({ emu, explainer }) => {
      const result = await (await explainer()).explain({ context: sampleContext(), score: 9 });
      assertEquals(result.status, "explained", result.reason ?? "");
      const [request] = emu.requests;
      assertEquals([request!.format, request!.path, request!.query], [
        "azure",
        "/openai/deployments/gpt-test/chat/completions",
        "?api-version=2024-10-21",
      ]);
      assertEquals(request!.headers["api-key"], "sk-test");
      assertEquals(request!.headers.authorization, undefined);
      assertEquals(request!.json.max_completion_tokens, 1500);
      assertEquals(result.answeredBy, "gpt-4o-2024-08-06");
    },
    {},
    { provider: "azure", path: "" },
  ));

Deno.test("Explainer reports a refused key as a failure naming the status", () =>
  withEmulator(async ({ explainer }) => {
    const result = await (await explainer()).explain({ context: sampleContext(), score: 9 });
    assertEquals(result.status, "failed");
    assertStringIncludes(result.reason!, "401 invalid api key");
  }, { key: "another" }));

Deno.test("Explainer settles every reservation: usage and ledger agree after faults", () =>
  withEmulator(async ({ emu, ledger, explainer }) => {
    const faults: Fault[] = [
      { kind: "status", status: 429, retryAfter: "0" },
      { kind: "truncated" },
      { kind: "status", status: 502 },
    ];
    emu.inject(...faults);
    const result = await (await explainer()).explain({ context: sampleContext(), score: 9 });
    assertEquals(result.status, "explained", result.reason ?? "");
    const report = ledger.usage(new Date());
    assertEquals(report.requests, 4);
    assertEquals([report.inputTokens, report.outputTokens], [
      emu.usage().input,
      emu.usage().output,
    ]);
    assertEquals(report.analyses.ok, 1);
  }));

Deno.test("the ledger counts spend per calendar month (UTC)", () => {
  const db = new DatabaseSync(":memory:");
  const ledger = new AiLedger(db);
  const november = new Date("2026-11-30T23:59:59Z");
  const december = new Date("2026-12-01T00:00:00Z");
  const id = ledger.begin("fp", "openai", "m", 10, november)!;
  const request = ledger.reserve(id, "m", 4_000_000, 0.005, november)!;
  // A second worst case would pass November's limit, not December's.
  assertEquals(ledger.reserve(id, "m", 4_000_000, 0.005, november), undefined);
  ledger.settle(request, { costNano: 3_000_000, inputTokens: 1, outputTokens: 1, outcome: "ok" });
  assertEquals(ledger.usage(november).cost, 0.003);
  assertEquals(ledger.usage(december).cost, 0);
  assert(ledger.reserve(id, "m", 4_000_000, 0.005, december) !== undefined);
  db.close();
});
