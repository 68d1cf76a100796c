import { assert, assertEquals } from "../../tests/support/assert.ts";
import { parseAnswer } from "./result.ts";

const valid = {
  summary: "A null pointer was read.",
  rootCause: "deref() reads through p, which main() passes as null.",
  impact: "The process dies.",
  recommendations: ["Check p."],
  confidence: 0.8,
  codeSuggestions: [{ file: "segv.c", line: 5, suggestion: "if (!p) return -1;" }],
  relatedIssues: [],
};

Deno.test("parseAnswer() takes the JSON alone, in a Markdown fence, or inside prose", () => {
  for (
    const text of [
      JSON.stringify(valid),
      "```json\n" + JSON.stringify(valid, null, 2) + "\n```",
      `Here it is:\n${JSON.stringify(valid)}\nHope this helps.`,
    ]
  ) {
    const parsed = parseAnswer(text);
    assert(parsed.ok, text);
    assertEquals(parsed.result.summary, valid.summary);
  }
});

Deno.test("parseAnswer() accepts a suggestion without a line as line null", () => {
  const parsed = parseAnswer(JSON.stringify({
    ...valid,
    codeSuggestions: [{ file: "a.c", suggestion: "x" }],
  }));
  assert(parsed.ok);
  assertEquals(parsed.result.codeSuggestions[0]!.line, null);
});

Deno.test("parseAnswer() says why an answer is refused", () => {
  assertEquals(parseAnswer("").ok, false);
  const prose = parseAnswer("The crash is a null dereference.");
  assert(!prose.ok);
  assert(prose.error.startsWith("the answer is not one JSON object"), prose.error);
  const wrong = parseAnswer(JSON.stringify({ ...valid, confidence: 7, impact: undefined }));
  assert(!wrong.ok);
  assert(wrong.error.includes("confidence"), wrong.error);
  assert(wrong.error.includes("impact"), wrong.error);
  const cut = parseAnswer(JSON.stringify(valid).slice(0, 60));
  assert(!cut.ok);
});
