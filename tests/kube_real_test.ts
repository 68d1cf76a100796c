/**
 * What only a real API server shows: its watch protocol (resuming, bookmarks, 410 Gone once etcd
 * is compacted, the agent's informer relisting after it) and CustomResourceDefinitions validated
 * by their OpenAPI schema (the operator's `Milvus`, and every CRD in `manifests/`).
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { skipNotice } from "./support/cores.ts";
import type { Json } from "./support/kube/_match.ts";
import { helmPod, pod } from "./support/kube/fixtures.ts";
import { haveKubectl, kubectl } from "./support/kube/kubectl.ts";
import { summary, type WatchEvents, watchEvents } from "./support/kube/watch_events.ts";
import { realKubeUnavailable, startRealCluster } from "./support/kube_servers.ts";
import type { RealKube, RealKubeOptions } from "./support/kube_real/server.ts";
import { KubeClient, loadKubeTarget, type RestartEvent, watchRestarts } from "../lib/kube/mod.ts";
import { parseAllDocuments } from "yaml";

const noReal = realKubeUnavailable() !== undefined;

/** Runs `fn` on a real server holding the `milvus` namespace, with an admin kubeconfig. */
async function withServer(
  fn: (kube: RealKube, kubeconfig: string) => Promise<void>,
  options: RealKubeOptions = {},
) {
  const kube = await startRealCluster(options);
  const dir = await Deno.makeTempDir({ prefix: "agent-kube-real-" });
  try {
    await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
    await fn(kube, await kube.writeKubeconfig(`${dir}/kubeconfig`, "milvus"));
  } finally {
    await kube.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A raw watch on a collection of the `milvus` namespace (`pods`, `configmaps`). */
async function openWatch(kube: RealKube, plural: string, query: string): Promise<WatchEvents> {
  const response = await kube.fetch(`/api/v1/namespaces/milvus/${plural}?watch=1&${query}`);
  assertEquals(response.status, 200);
  return watchEvents(response);
}

/** An operator's `Milvus` resource in the `milvus` namespace. */
function milvus(name: string, spec: Json): Json {
  return { apiVersion: "milvus.io/v1beta1", kind: "Milvus", metadata: { name }, spec };
}

function rvOf(object: Json): string {
  return String((object.metadata as Json).resourceVersion);
}

Deno.test({
  name: "a real watch resumes from a resourceVersion and sends a bookmark before its timeout",
  ignore: noReal,
  fn: () =>
    withServer(async (kube) => {
      // ConfigMaps: one write each (a pod's status is a second one).
      const configMap = (name: string, data: Record<string, string> = {}) => ({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name, namespace: "milvus" },
        data,
      });
      const a = await kube.put(configMap("a"));
      await kube.put(configMap("b"));
      await kube.remove("configmaps", "milvus", "a");
      const watch = await openWatch(
        kube,
        "configmaps",
        `resourceVersion=${rvOf(a)}&allowWatchBookmarks=true&timeoutSeconds=5`,
      );
      assertEquals([summary(await watch.next()), summary(await watch.next())], [
        "ADDED b",
        "DELETED a",
      ]);
      const modified = await kube.put(configMap("b", { x: "1" }));
      assertEquals(summary(await watch.next()), "MODIFIED b");
      // The server sends a bookmark 2 s before the watch's deadline, then ends it; more
      // bookmarks may come between (the server's version moves on with its own writes).
      const bookmark = await watch.next();
      assertEquals(bookmark?.type, "BOOKMARK");
      let version = Number(rvOf(bookmark!.object as Json));
      assert(version >= Number(rvOf(modified)));
      for (let event = await watch.next(); event !== undefined; event = await watch.next()) {
        assertEquals(event.type, "BOOKMARK");
        assert(Number(rvOf(event.object as Json)) >= version);
        version = Number(rvOf(event.object as Json));
      }
    }),
});

Deno.test({
  name: "a real watch from before an etcd compaction gets 410 Gone",
  ignore: noReal,
  fn: () =>
    withServer(async (kube) => {
      const a = await kube.put(pod("a", {}));
      await kube.put(pod("a", {}, { restarts: 1 }));
      await kube.put(pod("a", {}, { restarts: 2 }));
      // Compacted past the watch's first event (compacting at exactly that one would leave the
      // event without its previous version: a 500, not a 410).
      await kube.etcdctl("compact", String(await kube.revision()));
      const watch = await openWatch(kube, "pods", `resourceVersion=${rvOf(a)}`);
      const error = await watch.next();
      assertEquals(error?.type, "ERROR");
      const status = error!.object as Json;
      assertEquals([status.code, status.reason], [410, "Expired"]);
      assertEquals(await watch.next(), undefined);
    }, { watchCache: false }),
});

Deno.test({
  name: "the watch cache serves a compacted history until the API server restarts, then 410 Gone",
  ignore: noReal,
  fn: () =>
    withServer(async (kube) => {
      const a = await kube.put(pod("a", {}));
      await kube.put(pod("a", {}, { restarts: 1 }));
      await kube.etcdctl("compact", String(await kube.revision()));
      // Unlike the emulator's compact(): the cache still holds what etcd forgot.
      const cached = await openWatch(kube, "pods", `resourceVersion=${rvOf(a)}&timeoutSeconds=1`);
      assertEquals(summary(await cached.next()), "MODIFIED a");
      await cached.close();
      // A restarted server's cache starts at etcd's present.
      await kube.stopApiserver();
      await kube.startApiserver();
      const watch = await openWatch(kube, "pods", `resourceVersion=${rvOf(a)}`);
      const error = await watch.next();
      assertEquals(error?.type, "ERROR");
      assertEquals((error!.object as Json).code, 410);
      assertEquals(await watch.next(), undefined);
    }),
});

Deno.test({
  name: "the agent's restart watch relists after 410 Gone and reports only what changed",
  ignore: noReal,
  fn: () =>
    withServer(async (kube, kubeconfig) => {
      await kube.put(helmPod("prod", "prod-querynode-0"));
      await kube.put(helmPod("prod", "prod-datanode-0"));
      const events: RestartEvent[] = [];
      const watcher = watchRestarts({
        client: new KubeClient(await loadKubeTarget({ kubeconfig })),
        selectors: ["app.kubernetes.io/name=milvus"],
        panicKeywords: ["panic"],
        instanceLabels: ["app.kubernetes.io/instance"],
        onRestart: (event) => void events.push(event),
        informer: { initialBackoffMs: 20, maxBackoffMs: 500 },
      });
      const stop = new AbortController();
      const running = watcher.run(stop.signal);
      try {
        await watcher.synced;
        // While the API server is down, etcd moves on and forgets the watch's resourceVersion.
        await kube.stopApiserver();
        await kube.etcdctl("put", "/agent-test/bump", "1");
        await kube.etcdctl("compact", String(await kube.revision()));
        await kube.startApiserver();
        await kube.put(helmPod("prod", "prod-querynode-0", {
          restarts: 1,
          terminated: { reason: "Error", exitCode: 139 },
        }));
        for (let i = 0; i < 1200 && events.length === 0; i++) {
          await new Promise((r) => setTimeout(r, 25));
        }
        assertEquals(events.map((e) => [e.pod, e.restartCount, e.isPanic]), [
          ["prod-querynode-0", 1, true],
        ]);
        assertEquals(watcher.stats.expired, 1);
        assertEquals(watcher.stats.lists, 2);
      } finally {
        stop.abort();
        await running;
      }
    }),
});

Deno.test({
  name: "the real server defaults a Milvus resource, validates its status, prints its columns",
  ignore: noReal || skipNotice("kubectl", haveKubectl()),
  fn: () =>
    withServer(async (kube, kubeconfig) => {
      const right = await kubectl(
        kubeconfig,
        ["apply", "-f", "-"],
        JSON.stringify(milvus("m", {})),
      );
      assertEquals(right.code, 0, right.stderr);
      const stored = await kube.get("milvuses", "milvus", "m");
      assertEquals((stored!.spec as Json).mode, "standalone");
      // Status is a subresource, validated too.
      const badStatus = await kube.fetch(
        "/apis/milvus.io/v1beta1/namespaces/milvus/milvuses/m/status",
        {
          method: "PATCH",
          headers: { "content-type": "application/merge-patch+json" },
          body: JSON.stringify({ status: { status: 5 } }),
        },
      );
      assertEquals(badStatus.status, 422);
      assertStringIncludes(await badStatus.text(), "status.status: Invalid value");
      await kube.put({ ...stored!, status: { status: "Healthy" } });
      const table = await kubectl(kubeconfig, ["get", "milvuses"]);
      assertEquals(table.code, 0, table.stderr);
      assertMatch(table.stdout, /^NAME +MODE +STATUS +AGE\nm +standalone +Healthy +\d+s\n$/);
    }),
});

/** The CustomResourceDefinitions in `manifests/`, each with the file it is in. */
async function manifestCrds(): Promise<{ file: string; crd: Json }[]> {
  const manifests = new URL("../manifests/", import.meta.url);
  const found: { file: string; crd: Json }[] = [];
  for await (const entry of Deno.readDir(manifests)) {
    if (!entry.name.endsWith(".yaml")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, manifests));
    for (const document of parseAllDocuments(text)) {
      const object = document.toJS() as Json | null;
      if (object?.kind === "CustomResourceDefinition") {
        found.push({ file: entry.name, crd: object });
      }
    }
  }
  return found;
}

/**
 * Custom resources and what their CRD's OpenAPI schema says of them: every `valid` object is
 * accepted, every `invalid` one refused with `error` in kubectl's message. A CRD that the agent
 * reads or writes (in `manifests/`, installed by the test, or another product's, installed with
 * the server) adds its cases here.
 */
const SCHEMA_CASES: { kind: string; valid: Json[]; invalid: { object: Json; error: string }[] }[] =
  [
    {
      kind: "Milvus",
      valid: [milvus("plain", {}), milvus("cluster", { mode: "cluster" })],
      invalid: [{
        object: milvus("galaxy", { mode: "galaxy" }),
        error: 'spec.mode: Unsupported value: "galaxy": supported values: "cluster", "standalone"',
      }],
    },
  ];

Deno.test({
  name: "the CRDs in manifests/ are structural, and custom resources validated by their schemas",
  ignore: noReal || skipNotice("kubectl", haveKubectl()),
  fn: () =>
    withServer(async (kube, kubeconfig) => {
      for (const { file, crd } of await manifestCrds()) {
        await kube.installCrd(crd);
        const stored = await kube.get(
          "customresourcedefinitions",
          undefined,
          String((crd.metadata as Json).name),
        );
        const conditions = ((stored!.status as Json).conditions ?? []) as Json[];
        assertEquals(
          conditions.filter((c) => c.type === "NonStructuralSchema"),
          [],
          `${file}: the schema must be structural`,
        );
      }
      for (const { kind, valid, invalid } of SCHEMA_CASES) {
        // A server-side dry run: validated and defaulted as a create would be, nothing stored.
        const create = (object: Json) =>
          kubectl(kubeconfig, ["create", "--dry-run=server", "-f", "-"], JSON.stringify(object));
        for (const object of valid) {
          const accepted = await create(object);
          assertEquals(accepted.code, 0, `${kind} ${JSON.stringify(object)}: ${accepted.stderr}`);
        }
        for (const { object, error } of invalid) {
          const refused = await create(object);
          assert(refused.code !== 0, `${kind} ${JSON.stringify(object)} was accepted`);
          assertStringIncludes(refused.stderr, error);
        }
      }
    }),
});
