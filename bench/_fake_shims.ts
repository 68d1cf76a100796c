/**
 * N fake Kata shims in one process of their own for the Kata benchmark, so that their CPU
 * and memory are not counted with the daemon's: each serves `renderShimMetrics()` (about 150
 * series, values changing on every request) on `ROOT/<id>/shim-monitor.sock`.
 *
 * Run: `deno run -q --allow-read --allow-write --allow-net bench/_fake_shims.ts ROOT COUNT
 * [QUIET_MS]`. Prints `ready COUNT` once every shim listens, then one line per burst of requests (a
 * scrape cycle): `burst REQUESTS FIRST LAST` once no request came for QUIET_MS (default
 * 750), FIRST and LAST being `Date.now()` when the first and the last request of the burst
 * arrived. Keeps the number of requests so far in the file `ROOT.requests` (written every 100 ms
 * when it changed), so that scrapes can be counted even when bursts never end. Stops every shim
 * and exits when stdin closes.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { type FakeShim, startFakeShim } from "../tests/support/fake_shim.ts";
import { renderShimMetrics } from "../tests/support/kata_metrics.ts";

const [root, countText, quietText] = Deno.args;
if (root === undefined || countText === undefined) {
  throw new Error("Usage: _fake_shims.ts ROOT COUNT [QUIET_MS]");
}
const count = Number(countText);
const quietMs = Number(quietText ?? "750");

/**
 * Sandbox ids like containerd's (64 random-looking hex digits), the same on every run:
 * their entropy is part of what gzip has to compress in the aggregate.
 */
function sandboxIds(n: number): string[] {
  let state = 0x9e3779b9;
  const next = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0).toString(16).padStart(8, "0");
  };
  return Array.from({ length: n }, () => Array.from({ length: 8 }, next).join(""));
}

let burst: { requests: number; first: number; last: number } | undefined;
let quietTimer: ReturnType<typeof setTimeout> | undefined;
let total = 0;
let written = 0;
const totalFile = `${root}.requests`;
Deno.writeTextFileSync(totalFile, "0");
const totalTimer = setInterval(() => {
  if (total === written) return;
  written = total;
  Deno.writeTextFileSync(totalFile, String(total));
}, 100);
const arrived = () => {
  total++;
  const now = Date.now();
  if (burst === undefined) burst = { requests: 0, first: now, last: now };
  burst.requests++;
  burst.last = now;
  clearTimeout(quietTimer);
  quietTimer = setTimeout(() => {
    const done = burst!;
    burst = undefined;
    console.log(`burst ${done.requests} ${done.first} ${done.last}`);
  }, quietMs);
};

const shims: FakeShim[] = [];
for (const id of sandboxIds(count)) {
  let tick = 0;
  shims.push(
    await startFakeShim(root, id, {
      mode: "ok",
      // Called once per request, once the request is read: the arrival time.
      body: () => {
        arrived();
        return renderShimMetrics(id, tick++);
      },
    }),
  );
}
console.log(`ready ${shims.length}`);

// Waits for stdin to close.
for await (const _ of Deno.stdin.readable);
clearTimeout(quietTimer);
clearInterval(totalTimer);
await Promise.all(shims.map((shim) => shim.stop()));
