import { Registry } from "prom-client";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../tests/support/assert.ts";
import {
  defaultShimBody,
  type FakeShim,
  type FakeShimOptions,
  startFakeShim,
  withSocketDir,
} from "../../tests/support/fake_shim.ts";
import { renderShimMetrics } from "../../tests/support/kata_metrics.ts";
import { createLogger } from "../log.ts";
import { parsePrometheusText } from "../prom/mod.ts";
import { SandboxDirectory } from "./sandboxes.ts";
import {
  type CycleStats,
  notPrometheusText,
  ShimScraper,
  type ShimScraperOptions,
} from "./scraper.ts";
import { createKataMonitorMetrics, SCRAPE_DURATION_BUCKETS } from "./monitor_metrics.ts";

const log = createLogger({ level: "error", format: "text", write: () => {} });
const TIMEOUT_MS = 300;

interface Harness {
  root: string;
  directory: SandboxDirectory;
  scraper: ShimScraper;
  registry: Registry;
  shims: Map<string, FakeShim>;
  start(id: string, options: FakeShimOptions): Promise<FakeShim>;
}

/**
 * A sandbox root with fake shims, a running directory and a scraper (not running unless the
 * test runs it); every shim is stopped and every loop ended afterwards.
 */
async function withHarness(
  options: Partial<ShimScraperOptions>,
  fn: (h: Harness) => Promise<void>,
): Promise<void> {
  await withSocketDir(async (dir) => {
    const root = `${dir}/sbs`;
    await Deno.mkdir(root);
    const directory = new SandboxDirectory({ roots: [root], rescanMs: 50, log });
    const registry = new Registry();
    const scraper = new ShimScraper({
      sandboxes: directory,
      recorder: createKataMonitorMetrics(registry, () => directory.list().length),
      log,
      intervalMs: 60_000,
      timeoutMs: TIMEOUT_MS,
      concurrency: 16,
      maxBytes: 1024 * 1024,
      ...options,
    });
    const shims = new Map<string, FakeShim>();
    const controller = new AbortController();
    const running = directory.run(controller.signal);
    try {
      await directory.scanned;
      await fn({
        root,
        directory,
        scraper,
        registry,
        shims,
        async start(id, shimOptions) {
          const shim = await startFakeShim(root, id, shimOptions);
          shims.set(id, shim);
          return shim;
        },
      });
    } finally {
      controller.abort();
      await running;
      await Promise.all([...shims.values()].map((s) => s.stop()));
    }
  });
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The value of an unlabelled sample in exposition text. */
function sample(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert(match, `no sample ${name}`);
  return Number(match[1]);
}

const BAD_MODES = ["hang", "slow", "trickle", "garbage", "huge", "error500", "close"] as const;

Deno.test("ShimScraper scrapes good shims while bad ones fail alone", async () => {
  // A timeout that a loaded machine's good shims always beat, and bad shims that never answer
  // within it.
  const timeoutMs = 5_000;
  await withHarness({ maxBytes: 256 * 1024, timeoutMs }, async (h) => {
    for (let i = 0; i < 4; i++) await h.start(`good-${i}`, { mode: "ok", chunked: i % 2 === 1 });
    for (const mode of BAD_MODES) await h.start(`bad-${mode}`, { mode, delayMs: 60_000 });
    await h.directory.scan();

    const stats = await h.scraper.scrapeOnce();
    assertEquals([stats.sandboxes, stats.ok, stats.failed], [11, 4, 7]);
    // Every shim had a slot: the cycle lasts one timeout, not three (hang, slow, trickle).
    assert(stats.wallMs < 2.5 * timeoutMs, `cycle took ${stats.wallMs} ms`);

    const snapshot = h.scraper.snapshot();
    for (let i = 0; i < 4; i++) {
      const entry = snapshot.get(`good-${i}`)!;
      assertEquals(entry.text, defaultShimBody(`good-${i}`));
      assertEquals(entry.error, undefined);
      assert(entry.scrapedAt !== undefined && entry.durationMs! < timeoutMs);
    }
    const errors = Object.fromEntries(
      BAD_MODES.map((mode) => [mode, snapshot.get(`bad-${mode}`)!]),
    );
    for (const entry of Object.values(errors)) {
      assertEquals(entry.text, undefined);
      assertEquals(entry.consecutiveFailures, 1);
    }
    assertStringIncludes(
      errors.hang!.error!,
      `sandbox "bad-hang": timed out after 5 s`,
    );
    assertStringIncludes(errors.slow!.error!, "timed out");
    assertStringIncludes(errors.trickle!.error!, "timed out");
    assertStringIncludes(errors.garbage!.error!, "not HTTP");
    assertStringIncludes(errors.huge!.error!, "response over 256 KiB");
    assertStringIncludes(errors.error500!.error!, "answered 500");
    assertStringIncludes(errors.close!.error!, "closed the connection");

    const text = await h.registry.metrics();
    assertEquals(sample(text, "kata_monitor_scrape_count"), 11);
    assertEquals(sample(text, "kata_monitor_scrape_failed_count"), 7);
    assertEquals(sample(text, "kata_monitor_running_shim_count"), 11);
  });
});

/** 200 answers that are not Prometheus text, as a misbehaving shim or a proxy might send. */
const GARBAGE: Record<string, () => Uint8Array<ArrayBuffer>> = {
  html: () => new TextEncoder().encode("<html><body><h1>502 Bad Gateway</h1></body></html>\n"),
  json: () => new TextEncoder().encode('{"error": "metrics unavailable"}\n'),
  binary: () => new Uint8Array([0x00, 0xff, 0xfe, 0x0a, 0x01, 0x02, 0x80, 0x0a]),
};

Deno.test("ShimScraper counts a 200 answer that is not Prometheus text as failed", async () => {
  await withHarness({}, async (h) => {
    await h.start("good", { mode: "ok" });
    for (const [kind, bytes] of Object.entries(GARBAGE)) {
      await h.start(`bad-${kind}`, { mode: "ok", bytes });
    }
    await h.directory.scan();
    const stats = await h.scraper.scrapeOnce();
    assertEquals([stats.ok, stats.failed], [1, 3]);
    const snapshot = h.scraper.snapshot();
    assertEquals(snapshot.get("good")!.error, undefined);
    for (const kind of Object.keys(GARBAGE)) {
      const entry = snapshot.get(`bad-${kind}`)!;
      assertEquals(entry.text, undefined);
      assertEquals(entry.consecutiveFailures, 1);
      assertMatch(
        entry.error ?? "",
        kind === "binary"
          ? new RegExp(`^shim-monitor.sock of sandbox "bad-binary": sent a body that is not UTF-8`)
          : new RegExp(
            `^shim-monitor.sock of sandbox "bad-${kind}": answered no Prometheus text \\(Line 1: `,
          ),
      );
      assert(!entry.error!.includes("\n"), "one line");
    }
    const text = await h.registry.metrics();
    assertEquals(sample(text, "kata_monitor_scrape_failed_count"), 3);
    assertEquals(sample(text, "kata_monitor_scrape_count"), 4);
  });
});

Deno.test("notPrometheusText() accepts text with samples or nothing, refuses text with none", () => {
  assertEquals(notPrometheusText(""), undefined);
  assertEquals(notPrometheusText("# HELP x An x.\n# TYPE x gauge\n"), undefined);
  assertEquals(notPrometheusText("x 1\n"), undefined);
  // One bad line among samples loses that line only (the aggregator skips it).
  assertEquals(notPrometheusText("x 1\n<oops>\ny 2\n"), undefined);
  assertEquals(notPrometheusText("<oops>\nx 1\n"), undefined);
  assertMatch(notPrometheusText("<html>\n")!, /^answered no Prometheus text \(Line 1: /);
  assertMatch(notPrometheusText("# TYPE x gauge\nnot a sample\n")!, /\(Line 2: /);
});

Deno.test("ShimScraper.published() changes once per cycle, when it ends", async () => {
  await withHarness({ concurrency: 1 }, async (h) => {
    await h.start("a", { mode: "ok" });
    await h.start("b", { mode: "slow", delayMs: 150 });
    await h.directory.scan();
    const before = h.scraper.published();
    const cycle = h.scraper.scrapeOnce();
    await until(() => h.scraper.snapshot().get("a")?.text !== undefined);
    assert(h.scraper.published() === before, "held back while the cycle runs");
    await cycle;
    const after = h.scraper.published();
    assertEquals([...after.keys()].sort(), ["a", "b"]);
    assert(after.get("b")!.text !== undefined);
    // A scrape outside a cycle (a new sandbox's first) is published at once.
    await h.scraper.scrapeSandbox("a");
    assert(h.scraper.published() !== after);
    assert(h.scraper.published().get("a") === h.scraper.snapshot().get("a"));
  });
});

Deno.test("ShimScraper: hanging shims hold only their own slots", async () => {
  await withHarness({ concurrency: 2 }, async (h) => {
    await h.start("hang-1", { mode: "hang" });
    for (let i = 0; i < 6; i++) await h.start(`ok-${i}`, { mode: "ok" });
    await h.directory.scan();
    const stats = await h.scraper.scrapeOnce();
    assertEquals([stats.ok, stats.failed], [6, 1]);
    // One slot is held for one timeout; the other serves the good shims meanwhile.
    assert(stats.wallMs < 2 * TIMEOUT_MS, `cycle took ${stats.wallMs} ms`);
  });
});

Deno.test("ShimScraper exposes kata-monitor's metrics with its names and buckets", async () => {
  await withHarness({}, async (h) => {
    await h.start("a", { mode: "ok" });
    await h.start("b", { mode: "error500" });
    await h.directory.scan();
    await h.scraper.scrapeOnce();
    const text = await h.registry.metrics();
    for (
      const [name, type] of [
        ["kata_monitor_running_shim_count", "gauge"],
        ["kata_monitor_scrape_count", "counter"],
        ["kata_monitor_scrape_failed_count", "counter"],
        ["kata_monitor_scrape_durations_histogram_milliseconds", "histogram"],
      ]
    ) {
      assertStringIncludes(text, `# TYPE ${name} ${type}\n`);
      assertMatch(text, new RegExp(`^# HELP ${name} \\S`, "m"));
    }
    assert(!text.includes("_total"), "kata-monitor's counters have no _total");
    const buckets = [...text.matchAll(/_milliseconds_bucket\{le="([^"]+)"\}/g)].map((m) => m[1]);
    assertEquals(buckets, [...SCRAPE_DURATION_BUCKETS.map(String), "+Inf"]);
    assertEquals(SCRAPE_DURATION_BUCKETS, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
    assertEquals(sample(text, "kata_monitor_scrape_durations_histogram_milliseconds_count"), 2);
    assertEquals(sample(text, "kata_monitor_running_shim_count"), 2);
  });
});

Deno.test("ShimScraper drops a failing shim's text but keeps when and why", async () => {
  await withHarness({}, async (h) => {
    const shim = await h.start("flaky", { mode: "ok" });
    await h.directory.scan();
    await h.scraper.scrapeOnce();
    const good = h.scraper.snapshot().get("flaky")!;
    assert(good.text !== undefined && good.lastSuccessAt !== undefined);

    await shim.stop(); // The socket goes, the sandbox directory stays.
    h.shims.delete("flaky");
    await h.scraper.scrapeOnce();
    const bad = h.scraper.snapshot().get("flaky")!;
    assertEquals(bad.text, undefined);
    assertStringIncludes(bad.error!, `sandbox "flaky": no socket`);
    assertEquals(bad.lastSuccessAt, good.lastSuccessAt);
    assert(bad.scrapedAt! >= good.scrapedAt!);
    await h.scraper.scrapeOnce();
    assertEquals(h.scraper.snapshot().get("flaky")!.consecutiveFailures, 2);

    await h.start("flaky", { mode: "ok" });
    await h.scraper.scrapeOnce();
    const back = h.scraper.snapshot().get("flaky")!;
    assertEquals([back.error, back.consecutiveFailures], [undefined, 0]);
    assert(back.text !== undefined);
  });
});

Deno.test("ShimScraper.run() scrapes new sandboxes at once and drops gone ones", async () => {
  const cycles: CycleStats[] = [];
  await withHarness({
    onCycle: (stats) => cycles.push(stats),
    newSandboxRetriesMs: [50, 100, 200, 400],
  }, async (h) => {
    await h.start("first", { mode: "ok" });
    await h.directory.scan();
    const controller = new AbortController();
    const running = h.scraper.run(controller.signal);
    try {
      await h.scraper.cycled;
      assertEquals(cycles.length, 1);
      assert(h.scraper.snapshot().get("first")?.text !== undefined);

      // The interval is a minute away: the new sandbox is scraped because it appeared.
      await h.start("second", { mode: "ok" });
      await until(() => h.scraper.snapshot().get("second")?.text !== undefined);

      // The directory first, the shim's socket a little later, as when a pod starts.
      await Deno.mkdir(`${h.root}/third`);
      await until(() => h.scraper.snapshot().get("third")?.error !== undefined);
      await h.start("third", { mode: "ok" });
      await until(() => h.scraper.snapshot().get("third")?.text !== undefined);

      // The sandbox goes away: its entry goes with it.
      await h.shims.get("first")!.stop();
      h.shims.delete("first");
      await Deno.remove(`${h.root}/first`, { recursive: true });
      await until(() => !h.scraper.snapshot().has("first"));
      assertEquals([...h.scraper.snapshot().keys()], ["second", "third"]);
      assertEquals(cycles.length, 1);
    } finally {
      controller.abort();
      await running;
    }
  });
});

Deno.test("ShimScraper.run() stops promptly with shims hanging", async () => {
  await withHarness({ timeoutMs: 600_000 }, async (h) => {
    await h.start("hang", { mode: "hang" });
    const controller = new AbortController();
    const running = h.scraper.run(controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    controller.abort();
    await running;
    // Far below the scrape's deadline: the abort ended it, not the deadline.
    assert(performance.now() - started < 300_000);
    // An aborted scrape is not a failed one.
    assertEquals(sample(await h.registry.metrics(), "kata_monitor_scrape_failed_count"), 0);
  });
});

Deno.test("ShimScraper caches a realistic shim's text unchanged, ready for the parser", async () => {
  const id = "4f0c0b6a".repeat(8);
  const text = renderShimMetrics(id, 7);
  await withHarness({}, async (h) => {
    await h.start(id, { mode: "ok", gzip: true, chunked: true, body: () => text });
    await h.directory.scan();
    assertEquals((await h.scraper.scrapeOnce()).ok, 1);
    const cached = h.scraper.snapshot().get(id)!.text!;
    assertEquals(cached, text);
    const names = parsePrometheusText(cached).map((f) => f.name);
    assert(names.includes("kata_shim_rpc_durations_histogram_milliseconds"));
    assert(names.includes("kata_guest_meminfo"));
  });
});
