/**
 * End to end on each Kubernetes API server (the emulator, a real one when built): a Helm release
 * whose querynode keeps crashing is watched, judged in a crash loop, and uninstalled after the
 * delay; its neighbour is untouched.
 */
import { assertEquals } from "./support/assert.ts";
import type { Json } from "./support/kube/_match.ts";
import { kubeServers } from "./support/kube_servers.ts";
import { helmPod, installHelmRelease } from "./support/kube/fixtures.ts";
import { configSchema, DEFAULTS } from "../lib/config/mod.ts";
import { KubeApiError, KubeClient, loadKubeTarget, watchRestarts } from "../lib/kube/mod.ts";
import { Cleaner } from "../lib/kube/cleaner.ts";
import { applyUninstall, planUninstall } from "../lib/kube/uninstall.ts";
import { openState } from "../lib/store/state.ts";

const servers = kubeServers({ emulator: { bookmarkIntervalMs: 100 } });

servers.test("a crash-looping Helm release is uninstalled after the delay, its neighbour kept", async (kube) => {
  const dir = await Deno.makeTempDir();
  const stop = new AbortController();
  const db = await openState(":memory:");
  let running: Promise<void> | undefined;
  try {
    await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
    await installHelmRelease(kube, "prod");
    await installHelmRelease(kube, "staging");
    await kube.put(helmPod("prod", "prod-milvus-querynode-0"));
    await kube.put(helmPod("staging", "staging-milvus-querynode-0"));
    const client = new KubeClient(
      await loadKubeTarget({ kubeconfig: await kube.writeKubeconfig(`${dir}/kubeconfig`) }),
    );
    const config = configSchema.parse(DEFAULTS);
    const clock = { now: Date.now() };
    const cleaner = new Cleaner({
      config: { ...config.cleaner, enabled: true, maxRestartCount: 3 },
      db,
      now: () => clock.now,
      uninstall: async (namespace, name, reason) => {
        await applyUninstall(client, await planUninstall(client, namespace, name, "helm"), reason);
      },
      exists: async (namespace, name) => {
        try {
          await planUninstall(client, namespace, name, "helm");
          return true;
        } catch (error) {
          if (error instanceof KubeApiError) throw error;
          return false;
        }
      },
    });
    const watcher = watchRestarts({
      client,
      selectors: config.discovery.helmSelectors,
      panicKeywords: config.analyzer.panicKeywords,
      instanceLabels: config.discovery.instanceLabels,
      onRestart: (event) => void cleaner.onRestart(event),
    });
    running = watcher.run(stop.signal);
    await watcher.synced;
    for (let count = 1; count <= 4; count++) {
      await kube.put(helmPod("prod", "prod-milvus-querynode-0", {
        restarts: count,
        terminated: {
          reason: "Error",
          exitCode: 134,
          finishedAt: new Date(clock.now).toISOString(),
        },
      }));
    }
    await kube.put(
      helmPod("staging", "staging-milvus-querynode-0", {
        restarts: 1,
        terminated: { reason: "Error", exitCode: 139 },
      }),
    );
    for (let i = 0; i < 100 && cleaner.pending().length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(cleaner.pending().map((p) => [p.instance, p.reason]), [[
      "prod",
      "crash loop: 4 panic restarts within 60 min",
    ]]);
    clock.now += config.cleaner.cleanupDelay;
    assertEquals((await cleaner.tick()).map((r) => r.outcome), ["uninstalled"]);
    const left = async (plural: string) =>
      (await kube.list(plural, "milvus")).map((o) => String((o.metadata as Json).name)).sort();
    assertEquals(await left("statefulsets"), ["staging-milvus-querynode"]);
    assertEquals(await left("secrets"), [
      "sh.helm.release.v1.staging.v1",
      "sh.helm.release.v1.staging.v2",
    ]);
    assertEquals((await kube.list("events", "milvus")).map((e) => e.message), [
      "agent uninstalled Helm release prod (7 objects deleted): crash loop: 4 panic restarts within 60 min",
    ]);
  } finally {
    stop.abort();
    await running;
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
