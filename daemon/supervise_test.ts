import { createLogger } from "../lib/log.ts";
import { assertEquals } from "../tests/support/assert.ts";
import { supervise } from "./supervise.ts";

Deno.test("supervise() restarts a failing stage with backoff and stops on abort", async () => {
  const stop = new AbortController();
  const lines: string[] = [];
  const restarts: string[] = [];
  const ups: boolean[] = [];
  let runs = 0;
  let lastSignal: AbortSignal | undefined;
  const done = supervise(
    "scraper",
    (signal) => {
      runs++;
      lastSignal = signal;
      if (runs <= 2) return Promise.reject(new Error(`boom ${runs}`));
      if (runs === 3) return Promise.resolve(); // Returning early is a failure too.
      return new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
    {
      log: createLogger({ level: "info", format: "json", write: (l) => lines.push(l) }),
      signal: stop.signal,
      onRestart: (stage) => restarts.push(stage),
      onUp: (_stage, up) => ups.push(up),
      firstDelayMs: 10,
      maxDelayMs: 40,
    },
  );
  while (runs < 4) await new Promise((r) => setTimeout(r, 5));
  assertEquals(restarts, ["scraper", "scraper", "scraper"]);
  assertEquals(ups, [false, true, false, true, false, true]);
  assertEquals(
    lines.map((l) => JSON.parse(l).error),
    ["boom 1", "boom 2", "it stopped on its own"],
  );
  assertEquals(lines.map((l) => JSON.parse(l).retryInMs), [10, 20, 40]);
  stop.abort();
  await done;
  assertEquals([runs, lastSignal?.aborted], [4, true]);
});
