import { Registry } from "prom-client";
import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import {
  type FakeShim,
  type FakeShimOptions,
  startFakeShim,
  withSocketDir,
} from "../../tests/support/fake_shim.ts";
import { renderShimMetrics } from "../../tests/support/kata_metrics.ts";
import { createLogger } from "../log.ts";
import { SandboxDirectory } from "./sandboxes.ts";
import { createKataMonitorMetrics } from "./monitor_metrics.ts";
import { releaseEntry } from "./_render.ts";
import { ScrapeWorker, ScrapeWorkerCrash, type ScrapeWorkerOptions } from "./scrape_worker.ts";

const log = createLogger({ level: "error", format: "text", write: () => {} });
const ID_A = "a".repeat(64);
const ID_B = "b".repeat(64);

interface Harness {
  root: string;
  directory: SandboxDirectory;
  registry: Registry;
  start(id: string, options: FakeShimOptions): Promise<FakeShim>;
  worker(options?: Partial<ScrapeWorkerOptions>): ScrapeWorker;
}

/** A sandbox root with fake shims and a running directory; everything stopped afterwards. */
async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  await withSocketDir(async (dir) => {
    const root = `${dir}/sbs`;
    await Deno.mkdir(root);
    const directory = new SandboxDirectory({ roots: [root], rescanMs: 50, log });
    const registry = new Registry();
    const recorder = createKataMonitorMetrics(registry, () => directory.size);
    const shims: FakeShim[] = [];
    const controller = new AbortController();
    const running = directory.run(controller.signal);
    try {
      await directory.scanned;
      await fn({
        root,
        directory,
        registry,
        async start(id, options) {
          const shim = await startFakeShim(root, id, options);
          shims.push(shim);
          return shim;
        },
        worker(options = {}) {
          return new ScrapeWorker({
            sandboxes: directory,
            log,
            intervalMs: 60_000,
            timeoutMs: 300,
            concurrency: 4,
            maxBytes: 1 << 20,
            maxSamplesPerShim: 100_000,
            cadvisor: true,
            recorder,
            ...options,
          });
        },
      });
    } finally {
      controller.abort();
      await running;
      await Promise.all(shims.map((s) => s.stop()));
    }
  });
}

async function until(check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("ScrapeWorker scrapes in a worker and hands over rendered sandboxes", async () => {
  await withHarness(async (h) => {
    let tick = 0;
    await h.start(ID_A, { mode: "ok", body: () => renderShimMetrics(ID_A, tick++) });
    await h.start(ID_B, { mode: "hang" });
    await until(() => h.directory.size === 2);
    const scraper = h.worker({ pods: () => new Map() });
    const controller = new AbortController();
    const running = scraper.run(controller.signal);
    try {
      await scraper.cycled;
      const a = scraper.published().get(ID_A)!;
      const b = scraper.published().get(ID_B)!;
      assert(a.rendered, "the good shim is rendered");
      assertEquals(a.error, undefined);
      const lines = new TextDecoder().decode(a.rendered.bytes);
      assert(lines.includes(`sandbox_id="${ID_A}"`), "kata-monitor's labels are in the lines");
      // The shim's text crosses as bytes, read back as text when asked for.
      assert(a.rendered.text.includes("kata_guest_"), a.rendered.text.slice(0, 200));
      // Freed at once when released: nothing of it is left to V8.
      releaseEntry(a.rendered);
      assertEquals(a.rendered.bytes.length, 0);
      assertEquals(a.rendered.text, "");
      assertEquals(b.rendered, undefined);
      assert(b.error?.includes("timed out"), b.error);
      assertEquals(scraper.lastCycle?.ok, 1);
      assertEquals(scraper.lastCycle?.failed, 1);
      const metrics = await h.registry.metrics();
      assert(/^kata_monitor_scrape_count 2$/m.test(metrics), metrics);
      assert(/^kata_monitor_scrape_failed_count 1$/m.test(metrics), metrics);
    } finally {
      controller.abort();
      await running;
    }
  });
});

Deno.test("ScrapeWorker starts its worker only once there is a sandbox", async () => {
  await withHarness(async (h) => {
    const scraper = h.worker();
    const controller = new AbortController();
    const running = scraper.run(controller.signal);
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      assertEquals(scraper.published().size, 0);
      assertEquals(scraper.workersStarted, 0);
      await h.start(ID_A, { mode: "ok", body: () => renderShimMetrics(ID_A, 0) });
      await until(() => scraper.published().get(ID_A)?.rendered !== undefined);
      assertEquals(scraper.workersStarted, 1);
    } finally {
      controller.abort();
      await running;
    }
  });
});

Deno.test("ScrapeWorker sends pods to the worker, which renders their labels", async () => {
  await withHarness(async (h) => {
    await h.start(ID_A, { mode: "ok", body: () => renderShimMetrics(ID_A, 0) });
    await until(() => h.directory.size === 1);
    let pods = new Map<string, { uid: string; name: string; namespace: string }>();
    const scraper = h.worker({ pods: () => pods, podsCheckMs: 10 });
    const controller = new AbortController();
    const running = scraper.run(controller.signal);
    try {
      await scraper.cycled;
      pods = new Map([[ID_A, { uid: "u-1", name: "web-0", namespace: "shop" }]]);
      await until(() => {
        const bytes = scraper.published().get(ID_A)?.rendered?.bytes;
        return bytes !== undefined && new TextDecoder().decode(bytes).includes('cri_name="web-0"');
      });
    } finally {
      controller.abort();
      await running;
    }
  });
});

Deno.test("ScrapeWorker.run() stops the worker promptly with a shim hanging", async () => {
  await withHarness(async (h) => {
    await h.start(ID_A, { mode: "hang" });
    await until(() => h.directory.size === 1);
    const scraper = h.worker({ timeoutMs: 60_000 });
    const controller = new AbortController();
    const running = scraper.run(controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 100));
    controller.abort();
    // The test's resource sanitizer fails it if the worker or a socket is left behind.
    await running;
  });
});

Deno.test("ScrapeWorker.run() rejects when the worker crashes, and runs again", async () => {
  await withHarness(async (h) => {
    await h.start(ID_A, { mode: "ok", body: () => renderShimMetrics(ID_A, 0) });
    await until(() => h.directory.size === 1);
    const crashing = h.worker({
      workerUrl: new URL("./testdata/crashing_scrape_worker.ts", import.meta.url),
    });
    const error = await assertRejects(
      () => crashing.run(new AbortController().signal),
      ScrapeWorkerCrash,
    );
    assert(error.message.includes("planned crash"), error.message);
    // What the daemon's supervision does after the backoff: run it again.
    const scraper = h.worker();
    const controller = new AbortController();
    const running = scraper.run(controller.signal);
    try {
      await scraper.cycled;
      assert(scraper.published().get(ID_A)?.rendered !== undefined);
    } finally {
      controller.abort();
      await running;
    }
  });
});

Deno.test("ScrapeWorker drops a sandbox that vanished, and a shim that sends too much", async () => {
  await withHarness(async (h) => {
    const a = await h.start(ID_A, { mode: "ok", body: () => renderShimMetrics(ID_A, 0) });
    await h.start(ID_B, { mode: "huge" });
    await until(() => h.directory.size === 2);
    const scraper = h.worker({ maxBytes: 64 * 1024 });
    const controller = new AbortController();
    const running = scraper.run(controller.signal);
    try {
      await scraper.cycled;
      assert(scraper.published().get(ID_B)?.error?.includes("over 64 KiB"));
      assertEquals(scraper.published().get(ID_B)?.rendered, undefined);
      await a.stop();
      await Deno.remove(a.sandboxDir, { recursive: true });
      await until(() => !scraper.published().has(ID_A));
      assert(scraper.published().has(ID_B));
    } finally {
      controller.abort();
      await running;
    }
  });
});
