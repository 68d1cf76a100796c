/**
 * The AI stage's own work per core, without the model: building the prompt of a large crash
 * (200 frames, 200 other threads) cut to the default input budget, of a small one, and
 * validating a recorded answer. `deno bench -P bench/ai_bench.ts`
 */
import { buildPrompt, parseAnswer } from "../lib/ai/mod.ts";
import { sampleContext } from "../lib/ai/testdata/fixtures.ts";

const large = sampleContext({ frames: 200, threads: 200 });
const small = sampleContext();
const answer = JSON.stringify({
  summary: "The process read through a null pointer in deref() and was killed by SIGSEGV.",
  rootCause: "deref() at segv.c:5 dereferences the pointer main() passes as null.",
  impact: "Every request taking this path crashes the component.",
  recommendations: ["Check the pointer for null.", "Add a regression test."],
  confidence: 0.78,
  codeSuggestions: [{ file: "segv.c", line: 5, suggestion: "if (p == NULL) return -1;" }],
  relatedIssues: ["null pointer dereference"],
});

Deno.bench("buildPrompt() of 200 frames and 200 threads, cut to 6000 tokens", () => {
  buildPrompt(large, 6000);
});

Deno.bench("buildPrompt() of the segv sample", () => {
  buildPrompt(small, 6000);
});

Deno.bench("parseAnswer() of a recorded explanation", () => {
  parseAnswer(answer);
});
