import { DatabaseSync } from "node:sqlite";
import { assertEquals } from "../../tests/support/assert.ts";
import type { Explanation } from "./explain.ts";
import { AiCoreQueue, explanationDocument } from "./queue.ts";
import { sampleContext } from "./testdata/fixtures.ts";

const result = {
  summary: "s",
  rootCause: "r",
  impact: "i",
  recommendations: [],
  confidence: 0.5,
  codeSuggestions: [],
  relatedIssues: [],
};

Deno.test("AiCoreQueue keeps cores in order across reopenings, each once, and bounded", () => {
  const db = new DatabaseSync(":memory:");
  const queue = new AiCoreQueue(db);
  const core = (coreId: number) => ({
    coreId,
    fingerprint: "fp",
    score: 8,
    context: sampleContext(),
  });
  assertEquals(queue.enqueue(core(2), 2), true);
  assertEquals(queue.enqueue(core(1), 2), true);
  assertEquals(queue.enqueue(core(1), 2), false);
  // Full: recorded as skipped, with the reason.
  assertEquals(queue.enqueue(core(3), 2), false);
  assertEquals(queue.of([3]).get(3)?.state, "skipped");
  assertEquals(queue.of([3]).get(3)?.reason, "2 cores were waiting for the AI stage already");
  // A daemon restarted finds the same work.
  const reopened = new AiCoreQueue(db);
  assertEquals(reopened.pending(), 2);
  const next = reopened.next()!;
  assertEquals(next.coreId, 1);
  assertEquals(next.context, sampleContext());
  const id = reopened.ledger.begin("fp", "openai", "m", 10, new Date())!;
  reopened.ledger.finish(id, { status: "ok", result, now: new Date() });
  reopened.finish(1, "explained", null, id, "2026-11-22T00:00:00.000Z");
  assertEquals(reopened.next()!.coreId, 2);
  const shown = reopened.of([1, 2, 99]);
  assertEquals(shown.get(1), {
    state: "explained",
    reason: null,
    fingerprint: "fp",
    result,
    provider: "openai",
    model: "m",
    at: "2026-11-22T00:00:00.000Z",
  });
  assertEquals(shown.get(2)?.state, "queued");
  assertEquals(shown.has(99), false);
  db.close();
});

Deno.test("explanationDocument() names the core and keeps the explanation whole", () => {
  const explanation: Explanation = {
    status: "cached",
    reason: null,
    skip: null,
    fingerprint: "fp",
    analysisId: 4,
    result,
    provider: "anthropic",
    model: "claude",
    answeredBy: "claude-x",
    usage: { requests: 0, inputTokens: 0, outputTokens: 0, cost: 0 },
    truncated: [],
    at: "2026-11-22T00:00:00.000Z",
  };
  const doc = explanationDocument(
    { key: "prod/a.core.gz", uri: "file:///s/prod/a.core.gz" },
    explanation,
  );
  assertEquals(doc.core, "prod/a.core.gz");
  assertEquals(doc.result, result);
  assertEquals(doc.status, "cached");
});
