import { assert, assertEquals } from "../../tests/support/assert.ts";
import { KubeEmulator } from "../../tests/support/kube/emulator.ts";
import { clusterObjects } from "../../tests/support/kube/cluster_fixtures.ts";
import { waitFor } from "../../tests/support/net.ts";
import { KubeClient } from "../kube/mod.ts";
import { ResourceGraph } from "./graph.ts";
import { watchCluster } from "./watch.ts";

Deno.test("watchCluster() keeps only stubs in the informers and deletes what a relist misses", async () => {
  const emu = await KubeEmulator.start();
  const graph = new ResourceGraph();
  const stop = new AbortController();
  try {
    for (const object of clusterObjects()) emu.put(object);
    const client = new KubeClient({
      server: emu.url,
      namespace: "shop",
      source: "test",
      headers: () => Promise.resolve({}),
    });
    const watch = watchCluster({ client, graph, informer: { initialBackoffMs: 20 } });
    const running = watch.run(stop.signal);
    await watch.synced;
    const pods = watch.informers.get("Pod")!.cache;
    assert(pods.size > 0);
    for (const stub of pods.values()) {
      assertEquals(Object.keys(stub).sort(), ["apiVersion", "kind", "metadata"]);
      assertEquals(Object.keys(stub.metadata!).sort(), ["name", "namespace", "resourceVersion"]);
    }
    const pod = graph.get("Pod/shop/web-7d9f8b6c5-xxxx0");
    assertEquals((pod?.spec as { nodeName?: string }).nodeName, "node-1");

    // Deleted while the agent was away, past the history: found missing at the relist.
    await emu.stop();
    emu.remove("configmaps", "shop", "web-config");
    emu.compact();
    await emu.restart();
    await waitFor(() => graph.get("ConfigMap/shop/web-config") === undefined, "the relist");
    assert(!watch.informers.get("ConfigMap")!.cache.has("shop/web-config"));
    assert(graph.get("Pod/shop/web-7d9f8b6c5-xxxx0") !== undefined);
    stop.abort();
    await running;
  } finally {
    stop.abort();
    graph.close();
    await emu.close();
  }
});
