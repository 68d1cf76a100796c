import { assertEquals } from "../../tests/support/assert.ts";
import { BoundedBuffer } from "./buffer.ts";
import { TokenBucket } from "./limiter.ts";

/** A bucket on a fake clock: waiting moves the clock. */
function fakeBucket(rate: number, burst: number) {
  let now = 0;
  const waits: number[] = [];
  const bucket = new TokenBucket(rate, burst, () => now, (ms) => {
    waits.push(ms);
    now += ms;
    return Promise.resolve();
  });
  return { bucket, waits, advance: (ms: number) => (now += ms), time: () => now };
}

const never = new AbortController().signal;

Deno.test("TokenBucket starts full, then grants at its rate", async () => {
  const { bucket, time } = fakeBucket(10, 20);
  assertEquals(await bucket.take(100, never), 20);
  let granted = 0;
  while (granted < 50) granted += await bucket.take(1, never);
  // 50 more tokens at 10/s: 5 s.
  assertEquals(time(), 5000);
});

Deno.test("TokenBucket saves at most its burst", async () => {
  const { bucket, advance } = fakeBucket(10, 20);
  await bucket.take(20, never);
  advance(60_000);
  assertEquals(await bucket.take(1000, never), 20);
});

Deno.test("TokenBucket serves waiting callers in order", async () => {
  const { bucket } = fakeBucket(1, 1);
  const order: number[] = [];
  await Promise.all([1, 2, 3].map(async (n) => {
    await bucket.take(1, never);
    order.push(n);
  }));
  assertEquals(order, [1, 2, 3]);
});

Deno.test("TokenBucket.take() gives 0 once the signal aborts", async () => {
  const bucket = new TokenBucket(0.001, 1);
  await bucket.take(1, never);
  const controller = new AbortController();
  const waiting = bucket.take(1, controller.signal);
  controller.abort();
  assertEquals(await waiting, 0);
});

Deno.test("BoundedBuffer refuses what does not fit and keeps order through unshift", async () => {
  const buffer = new BoundedBuffer<number>(3);
  assertEquals([buffer.push(1), buffer.push(2), buffer.push(3), buffer.push(4)], [
    true,
    true,
    true,
    false,
  ]);
  const batch = buffer.take(2);
  assertEquals(batch, [1, 2]);
  buffer.push(5);
  assertEquals(buffer.unshift(batch), 1); // room for one: the oldest of the batch
  assertEquals(buffer.take(10), [1, 3, 5]);
  const controller = new AbortController();
  const waiting = buffer.waitForItems(controller.signal);
  buffer.push(6);
  await waiting;
  assertEquals(buffer.clear(), 1);
  assertEquals(buffer.size, 0);
});
