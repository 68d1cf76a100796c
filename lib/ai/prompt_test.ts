import { assert, assertEquals, assertStringIncludes } from "../../tests/support/assert.ts";
import { buildPrompt, estimateTokens } from "./prompt.ts";
import { sampleContext } from "./testdata/fixtures.ts";

Deno.test("buildPrompt() lays out the crash and keeps within the budget", () => {
  const prompt = buildPrompt(sampleContext(), 6000);
  assertEquals(prompt.truncated, []);
  for (
    const part of [
      "Program: segv (x86_64)",
      "Signal: SIGSEGV (11), address not mapped to object, fault address 0x0",
      "Crash group: 3f9a0c2d5e6b7a81, 3 cores seen so far",
      "Instance: prod (Helm release), container main, image milvusdb/milvus:v2.4.0",
      "- 2026-11-22T01:02:03Z, exit code 139, signal 11, Error",
      "#0 deref at /src/segv.c:5 [segv+0x1139]   <- crash attributed here",
    ]
  ) assertStringIncludes(prompt.user, part);
  assert(prompt.estimatedTokens <= 6000);
  assertStringIncludes(prompt.system, '"codeSuggestions"');
});

Deno.test("buildPrompt() drops deep frames first, then other threads, and says so", () => {
  const context = sampleContext({ frames: 200, threads: 100 });
  const full = buildPrompt(context, 1_000_000);
  assertEquals(full.truncated, []);
  const budget = 1500;
  const cut = buildPrompt(context, budget);
  assert(cut.estimatedTokens <= budget, `${cut.estimatedTokens} > ${budget}`);
  assert(cut.truncated[0]!.includes("outermost"), cut.truncated.join("; "));
  assertStringIncludes(cut.user, "Note: cut to fit the input budget:");
  // The crash frame and its callers stay.
  assertStringIncludes(cut.user, "#0 deref at /src/segv.c:5");
  assertStringIncludes(cut.user, "#4 caller_4");
  // A budget that still holds some threads keeps them after the frames went.
  const middle = buildPrompt(context, estimateTokens(full.system) + 1200);
  assert(middle.truncated.some((t) => t.includes("outermost")), middle.truncated.join("; "));
});

Deno.test("buildPrompt() cuts the text itself when even the bare facts do not fit", () => {
  const context = sampleContext({ frames: 5 });
  context.crashReason = "x".repeat(20_000);
  const prompt = buildPrompt(context, 1000);
  assert(prompt.estimatedTokens <= 1000, String(prompt.estimatedTokens));
  assertStringIncludes(prompt.user, "[cut to fit the input budget]");
});
