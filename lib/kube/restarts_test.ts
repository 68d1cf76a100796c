import { assertEquals } from "../../tests/support/assert.ts";
import { judgeLogs, judgeTermination, restartsBetween } from "./restarts.ts";

const KEYWORDS = ["panic", "fatal", "SIGSEGV", "SIGABRT", "SIGFPE", "assertion failed"];

function judge(
  exitCode: number | null,
  reason: string | null,
  message: string | null = null,
  signal: number | null = null,
) {
  return judgeTermination({ exitCode, reason, message, signal }, KEYWORDS);
}

Deno.test("judgeTermination() never calls a probe kill a panic", () => {
  assertEquals(judge(137, "Error", "Liveness probe failed: panic in handler", 9)?.isPanic, false);
});

Deno.test("judgeTermination() calls keywords, crash signals and Go's exit 2 panics", () => {
  assertEquals(judge(1, "Error", "fatal error: concurrent map writes"), {
    isPanic: true,
    evidence: 'termination mentions "fatal"',
  });
  assertEquals(judge(139, "Error", null, 11), { isPanic: true, evidence: "killed by signal 11" });
  assertEquals(judge(2, "Error"), { isPanic: true, evidence: "exit code 2 (Go panic)" });
  assertEquals(judge(137, "OOMKilled", null, 9)?.isPanic, false);
  assertEquals(judge(1, "Error"), undefined);
});

Deno.test("judgeLogs() looks for keywords in the previous log", () => {
  assertEquals(
    judgeLogs("starting\npanic: runtime error: index out of range\n", KEYWORDS).isPanic,
    true,
  );
  assertEquals(judgeLogs("shutting down\n", KEYWORDS).isPanic, false);
});

Deno.test("restartsBetween() reports only containers whose count went up", () => {
  const pod = (counts: Record<string, number>) => ({
    metadata: { name: "p", namespace: "n", labels: { "app.kubernetes.io/instance": "prod" } },
    spec: { nodeName: "node-1" },
    status: {
      containerStatuses: Object.entries(counts).map(([name, restartCount]) => ({
        name,
        restartCount,
        lastState: {
          terminated: { exitCode: 134, reason: "Error", finishedAt: "2026-11-22T01:00:00Z" },
        },
      })),
    },
  });
  const rules = { panicKeywords: KEYWORDS, instanceLabels: ["app.kubernetes.io/instance"] };
  assertEquals(restartsBetween(undefined, pod({ a: 3 }), rules), []);
  const found = restartsBetween(pod({ a: 1, b: 5 }), pod({ a: 2, b: 5 }), rules);
  assertEquals(found, [{
    namespace: "n",
    pod: "p",
    container: "a",
    node: "node-1",
    instance: "prod",
    restartCount: 2,
    exitCode: 134,
    signal: 6,
    reason: "Error",
    message: null,
    finishedAt: "2026-11-22T01:00:00Z",
  }]);
});
