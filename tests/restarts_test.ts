/**
 * Restart events from a watch on the Kubernetes API emulator, through the failure modes
 * that watches have in practice: closed streams, 410 Gone, silent streams, 500s, and an API
 * server that goes away and comes back. No duplicate events, none missed.
 */
import { assert, assertEquals } from "./support/assert.ts";
import type { Json } from "./support/kube/_match.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { emulatorCluster, type KubeCluster, kubeServers } from "./support/kube_servers.ts";
import { helmPod, type PodOptions } from "./support/kube/fixtures.ts";
import { KubeClient, loadKubeTarget } from "../lib/kube/mod.ts";
import { type RestartEvent, watchRestarts } from "../lib/kube/restarts.ts";
import type { Informer } from "../lib/kube/informer.ts";

const KEYWORDS = ["panic", "fatal", "SIGSEGV", "SIGABRT", "SIGFPE", "assertion failed"];

interface Harness {
  kube: KubeCluster;
  /** The emulator, in the tests that inject its faults. */
  emu: KubeEmulator;
  events: RestartEvent[];
  informer: Informer;
  restart(name: string, count: number, options?: PodOptions): Promise<void>;
  waitFor(count: number): Promise<void>;
}

const servers = kubeServers({ emulator: { bookmarkIntervalMs: 100 } });

/** {@linkcode watchOn} the emulator. */
async function withWatcher(fn: (h: Harness) => Promise<void>, informer = {}): Promise<void> {
  const emu = await KubeEmulator.start({ bookmarkIntervalMs: 100 });
  try {
    await watchOn(emulatorCluster(emu), fn, informer);
  } finally {
    await emu.close();
  }
}

async function watchOn(
  kube: KubeCluster,
  fn: (h: Harness) => Promise<void>,
  informer = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const stop = new AbortController();
  try {
    await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
    await kube.put(helmPod("prod", "prod-querynode-0"));
    await kube.put(helmPod("prod", "prod-datanode-0"));
    await kube.put({
      ...helmPod("x", "etcd-0"),
      metadata: { name: "etcd-0", namespace: "milvus", labels: { app: "etcd" } },
    });
    const client = new KubeClient(
      await loadKubeTarget({ kubeconfig: await kube.writeKubeconfig(`${dir}/kubeconfig`) }),
    );
    const events: RestartEvent[] = [];
    const watcher = watchRestarts({
      client,
      selectors: ["app.kubernetes.io/name=milvus"],
      panicKeywords: KEYWORDS,
      instanceLabels: ["app.kubernetes.io/instance"],
      onRestart: (event) => {
        events.push(event);
      },
      informer: { idleTimeoutMs: 2000, initialBackoffMs: 20, maxBackoffMs: 200, ...informer },
    });
    const running = watcher.run(stop.signal);
    await watcher.synced;
    const harness: Harness = {
      kube,
      get emu() {
        if (!kube.emulator) throw new Error("this test needs the emulator");
        return kube.emulator;
      },
      events,
      informer: watcher,
      restart: async (name, count, options = {}) => {
        await kube.put(helmPod("prod", name, {
          restarts: count,
          terminated: {
            reason: "Error",
            exitCode: 139,
            finishedAt: `2026-11-22T01:00:${String(count).padStart(2, "0")}Z`,
          },
          ...options,
        }));
      },
      waitFor: async (count) => {
        // A bound, not a pace: events arrive as soon as the watch delivers them.
        for (let i = 0; i < 1200 && events.length < count; i++) {
          await new Promise((r) => setTimeout(r, 25));
        }
        assertEquals(
          events.length,
          count,
          JSON.stringify(events.map((e) => `${e.pod}#${e.restartCount}`)),
        );
      },
    };
    try {
      await fn(harness);
    } finally {
      stop.abort();
      await running;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

servers.test("a restart with exit code 139 is a panic restart event", (kube) =>
  watchOn(kube, async ({ restart, waitFor, events }) => {
    await restart("prod-querynode-0", 1);
    await waitFor(1);
    assertEquals(events[0], {
      namespace: "milvus",
      pod: "prod-querynode-0",
      container: "main",
      node: "node-1",
      instance: "prod",
      restartCount: 1,
      exitCode: 139,
      signal: 11,
      reason: "Error",
      message: null,
      finishedAt: "2026-11-22T01:00:01Z",
      isPanic: true,
      evidence: "killed by signal 11",
    });
  }));

Deno.test("an inconclusive termination is judged by the previous container's log", () =>
  withWatcher(async ({ emu, restart, waitFor, events }) => {
    emu.setLog(
      "milvus",
      "prod-querynode-0",
      "main",
      "serving\npanic: segment 42 is corrupt\n",
      true,
    );
    await restart("prod-querynode-0", 1, { terminated: { reason: "Error", exitCode: 1 } });
    await restart("prod-datanode-0", 1, { terminated: { reason: "Error", exitCode: 1 } });
    await waitFor(2);
    assertEquals(events.map((e) => [e.pod, e.isPanic, e.evidence]), [
      ["prod-querynode-0", true, 'previous log mentions "panic"'],
      [
        "prod-datanode-0",
        false,
        'inconclusive: previous log unavailable (Kubernetes API GET /api/v1/namespaces/milvus/pods/prod-datanode-0/log: 400 previous terminated container "main" in pod "prod-datanode-0" not found)',
      ],
    ]);
  }));

servers.test("pods that are not Milvus and changes that are not restarts make no events", (kube) =>
  watchOn(kube, async ({ restart, waitFor }) => {
    await kube.put({
      ...helmPod("x", "etcd-0", { restarts: 4 }),
      metadata: { name: "etcd-0", namespace: "milvus", labels: { app: "etcd" } },
    });
    const relabelled = helmPod("prod", "prod-querynode-0");
    (relabelled.metadata as Json).annotations = { touched: "yes" };
    await kube.put(relabelled);
    await restart("prod-datanode-0", 1);
    await waitFor(1);
  }));

Deno.test("closed watches resume from the last resourceVersion without duplicates", () =>
  withWatcher(async ({ emu, restart, waitFor, informer }) => {
    await restart("prod-querynode-0", 1);
    await waitFor(1);
    for (let i = 2; i <= 4; i++) {
      emu.closeWatches();
      await restart("prod-querynode-0", i);
      await waitFor(i);
    }
    assert(informer.stats.watches >= 4, `watches: ${informer.stats.watches}`);
    assertEquals(informer.stats.lists, 1);
  }));

Deno.test("410 Gone makes a relist that reports only what really changed", () =>
  withWatcher(async ({ emu, restart, waitFor, informer }) => {
    await emu.stop();
    await restart("prod-querynode-0", 1);
    emu.compact();
    await emu.restart();
    await waitFor(1);
    assertEquals(informer.stats.expired, 1);
    assertEquals(informer.stats.lists, 2);
    await restart("prod-datanode-0", 1);
    await waitFor(2);
  }));

Deno.test("a silent watch is noticed and replaced", () =>
  withWatcher(async ({ emu, restart, waitFor, informer }) => {
    for (let i = 0; i < 100 && emu.openWatches === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    emu.silenceWatches();
    await restart("prod-querynode-0", 1);
    await waitFor(1);
    assertEquals(informer.stats.idleReconnects, 1);
  }, { idleTimeoutMs: 300 }));

Deno.test("500s and a vanished API server are retried with backoff, and nothing is missed", () =>
  withWatcher(async ({ emu, restart, waitFor, informer }) => {
    await emu.stop();
    await restart("prod-querynode-0", 1);
    await restart("prod-datanode-0", 1);
    await new Promise((r) => setTimeout(r, 300));
    emu.failNext(2, { path: "/api/v1/pods" });
    await emu.restart();
    await waitFor(2);
    assert(informer.stats.errors >= 3, `errors: ${informer.stats.errors}`);
    assertEquals(informer.stats.lists, 1);
  }));
