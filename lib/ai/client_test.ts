import { assertEquals } from "../../tests/support/assert.ts";
import { backoffDelay, retryAfter } from "./client.ts";

Deno.test("retryAfter() reads retry-after-ms, seconds and HTTP dates", () => {
  assertEquals(retryAfter(new Headers({ "retry-after-ms": "1500" }), 0), 1500);
  assertEquals(retryAfter(new Headers({ "retry-after": "3" }), 0), 3000);
  const now = Date.parse("2026-11-22T00:00:00Z");
  assertEquals(
    retryAfter(new Headers({ "retry-after": "Sun, 22 Nov 2026 00:00:05 GMT" }), now),
    5000,
  );
  assertEquals(retryAfter(new Headers({ "retry-after": "soon" }), 0), undefined);
  assertEquals(retryAfter(new Headers(), 0), undefined);
});

Deno.test("backoffDelay() waits at least Retry-After, else backs off exponentially with jitter", () => {
  assertEquals(backoffDelay(1, 2000, () => 0), 2000);
  assertEquals(backoffDelay(1, 2000, () => 0.999), 2249);
  assertEquals([1, 2, 3, 4].map((a) => backoffDelay(a, undefined, () => 0)), [
    500,
    1000,
    2000,
    4000,
  ]);
  assertEquals(backoffDelay(3, undefined, () => 1), 4000);
  assertEquals(backoffDelay(20, undefined, () => 0), 15_000);
});
