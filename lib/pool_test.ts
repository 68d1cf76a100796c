import { assertEquals } from "../tests/support/assert.ts";
import { after, MAX_TIMER_MS, sleep, type Timers } from "./pool.ts";

const DAY = 86_400_000;

/** Timers that run only when the test says so, recording each delay asked for. */
function fakeTimers() {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  const timers: Timers = {
    setTimeout(fn, ms) {
      pending.set(next, { fn, ms });
      return next++;
    },
    clearTimeout(id) {
      pending.delete(id as number);
    },
  };
  const fire = () => {
    const [id, timer] = [...pending][0]!;
    pending.delete(id);
    timer.fn();
    return timer.ms;
  };
  return { timers, pending, fire };
}

Deno.test("after() waits a 30-day delay in chunks setTimeout keeps", () => {
  const { timers, pending, fire } = fakeTimers();
  let fired = 0;
  after(30 * DAY, () => fired++, timers);
  assertEquals(fire(), MAX_TIMER_MS);
  assertEquals([fired, pending.size], [0, 1], "still pending after the first chunk");
  assertEquals(fire(), 30 * DAY - MAX_TIMER_MS);
  assertEquals([fired, pending.size], [1, 0]);
});

Deno.test("after() fires short delays once and at once for non-positive ones", () => {
  const { timers, pending, fire } = fakeTimers();
  const calls: string[] = [];
  after(500, () => calls.push("500"), timers);
  after(-1, () => calls.push("-1"), timers);
  after(NaN, () => calls.push("NaN"), timers);
  assertEquals([fire(), fire(), fire()], [500, 0, 0]);
  assertEquals([calls, pending.size], [["500", "-1", "NaN"], 0]);
});

Deno.test("after() never fires for Infinity and cancels between chunks", () => {
  const { timers, pending, fire } = fakeTimers();
  let fired = false;
  const cancel = after(Infinity, () => fired = true, timers);
  for (let i = 0; i < 3; i++) assertEquals(fire(), MAX_TIMER_MS);
  cancel();
  assertEquals([fired, pending.size], [false, 0]);
});

Deno.test("after() with the real setTimeout does not fire a 30-day delay early", async () => {
  let fired = false;
  const cancel = after(30 * DAY, () => fired = true);
  try {
    // An overflowed timer fires after 1 ms: before this 50 ms one, whatever the load.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assertEquals(fired, false);
  } finally {
    cancel();
  }
});

Deno.test("sleep() of 30 days ends when the signal aborts", async () => {
  const stop = new AbortController();
  let woke = false;
  const sleeping = sleep(30 * DAY, stop.signal).then(() => woke = true);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assertEquals(woke, false);
  stop.abort();
  await sleeping;
  assertEquals(woke, true);
});
