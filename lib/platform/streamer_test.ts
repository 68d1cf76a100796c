import { generateKeyPairSync } from "node:crypto";
import { assert, assertEquals } from "../../tests/support/assert.ts";
import { clusterObjects } from "../../tests/support/kube/cluster_fixtures.ts";
import { PlatformEmulator } from "../../tests/support/platform.ts";
import { findKind, reduceObject, type Resource, ResourceGraph } from "../cluster/mod.ts";
import type { KubeObject } from "../kube/mod.ts";
import { createLogger } from "../log.ts";
import { parseCredentials } from "./credentials.ts";
import { PlatformHttp } from "./http.ts";
import { HttpTransport } from "./transport.ts";
import { Streamer, type StreamerOptions } from "./streamer.ts";

const CANARY = "canary-streamer-93bd1c";

interface Fixture {
  platform: PlatformEmulator;
  graph: ResourceGraph;
  streamer: Streamer;
  counts: Map<string, number>;
  logs: string[];
  stop(drain?: boolean): Promise<void>;
}

function pod(name: string, rv: number): Resource {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "shop", uid: `uid-${name}`, resourceVersion: String(rv) },
    spec: { nodeName: "node-1" },
  };
}

async function withStreamer(
  options: Partial<StreamerOptions> & { maxRetries?: number },
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const platform = await PlatformEmulator.start();
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  platform.registerClient("agent-1", publicKey);
  const credentials = parseCredentials({
    client_id: "agent-1",
    private_key: privateKey.export({ format: "pem", type: "pkcs8" }),
  }, "test");
  const graph = new ResourceGraph();
  let rv = 1;
  for (const object of clusterObjects(CANARY)) {
    const resource = reduceObject(findKind(String(object.kind))!, object as KubeObject);
    resource.metadata.resourceVersion = String(rv++);
    resource.metadata.uid ||= `uid-${rv}`;
    graph.apply("ADDED", resource);
  }
  const http = new PlatformHttp({
    url: platform.url,
    credentials: () => credentials,
    random: () => 0,
    maxRetries: options.maxRetries ?? 5,
  });
  const counts = new Map<string, number>();
  const count = (key: string, n: number) => counts.set(key, (counts.get(key) ?? 0) + n);
  const logs: string[] = [];
  const streamer = new Streamer({
    graph,
    transport: new HttpTransport(http, () => "cluster-1"),
    header: () =>
      Promise.resolve({
        cluster_uid: "cluster-1",
        cluster_name: "test",
        kubernetes_version: "v1.30.0",
        platform: "kind",
        region: "eu-west-1",
        agent_version: "0.1.0",
      }),
    log: createLogger({ level: "debug", format: "json", write: (l) => logs.push(l) }),
    bufferSize: 1000,
    eventsPerSecond: 1000,
    burstSize: 1000,
    heartbeatIntervalMs: 3_600_000,
    pauseMs: 10,
    hooks: {
      sent: (kind, n) => count(`sent ${kind}`, n),
      dropped: (_kind, reason, n) => count(`dropped ${reason}`, n),
      retried: (_kind, n) => count("retried", n),
      snapshot: () => count("snapshots", 1),
    },
    ...options,
  });
  const controller = new AbortController();
  let draining = false;
  const running = streamer.run(controller.signal, () => draining);
  let stopped = false;
  const stop = async (drain = false) => {
    if (stopped) return;
    stopped = true;
    draining = drain;
    controller.abort();
    await running;
  };
  try {
    await fn({ platform, graph, streamer, counts, logs, stop });
  } finally {
    await stop();
    graph.close();
    await platform.close();
  }
}

Deno.test("Streamer sends a snapshot, then every change, then heartbeats", () =>
  withStreamer({ heartbeatIntervalMs: 50 }, async ({ platform, graph, logs }) => {
    await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
    const snapshot = platform.snapshots[0]!.body as {
      cluster_uid: string;
      cluster_name: string;
      platform: string;
      resources: Record<string, Resource[]>;
      relationships: unknown[];
    };
    assertEquals([snapshot.cluster_uid, snapshot.cluster_name, snapshot.platform], [
      "cluster-1",
      "test",
      "kind",
    ]);
    assertEquals(Object.keys(snapshot.resources).length, 16);
    assertEquals(snapshot.resources.pods!.length, 5);
    assertEquals(snapshot.resources.secrets![0]!.keys, ["password", "username"]);
    assert(snapshot.relationships.length > 20);
    graph.apply("ADDED", pod("new-0", 500));
    await platform.waitUntil(
      () => platform.events.some((e) => e.name === "new-0" && e.type === "ADDED"),
      "the new pod's event",
    );
    const event = platform.events.find((e) => e.name === "new-0")!;
    assertEquals([event.kind, event.uid, event.namespace], ["Pod", "uid-new-0", "shop"]);
    assert(
      platform.events.some((e) =>
        e.kind === "Relationship" && e.uid === "Pod/shop/new-0 runs-on Node//node-1"
      ),
    );
    // Heartbeats count the resources as they are when sent.
    await platform.waitUntil(
      () =>
        platform.heartbeats.some((h) =>
          (h.body.resource_counts as Record<string, number>).Pod === 6
        ),
      "a heartbeat counting 6 pods",
    );
    for (const body of platform.rawBodies) assert(!body.includes(CANARY), "canary sent");
    for (const line of logs) assert(!line.includes(CANARY), "canary logged");
  }));

Deno.test("Streamer keeps events while the platform is unreachable and sends each once, in order", () =>
  withStreamer({ maxRetries: 1 }, async ({ platform, graph, counts }) => {
    await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
    // Two tries fail, the batch goes back; then an answer is lost after the platform kept
    // the batch: the agent sends it again and the platform drops the copy.
    platform.inject(
      "/api/v1/agent/events",
      { status: 503 },
      { drop: true },
      { status: 500 },
      { status: 502 },
      { lose: true },
    );
    for (let i = 0; i < 30; i++) graph.apply("ADDED", pod(`p-${i}`, 1000 + i));
    await platform.waitUntil(
      () => platform.events.filter((e) => e.kind === "Pod").length === 30,
      "30 pod events",
    );
    const names = platform.events.filter((e) => e.kind === "Pod").map((e) => e.name);
    assertEquals(names, Array.from({ length: 30 }, (_, i) => `p-${i}`));
    assert((counts.get("retried") ?? 0) > 0);
    assertEquals(counts.get("dropped buffer_full"), undefined);
    assertEquals(platform.snapshots.length, 1);
  }));

Deno.test("Streamer drops changes a full buffer cannot hold and snapshots again", () =>
  withStreamer({ bufferSize: 5, maxRetries: 0 }, async ({ platform, graph, counts, logs }) => {
    await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
    platform.inject("/api/v1/agent/events", ...Array.from({ length: 3 }, () => ({ status: 503 })));
    for (let i = 0; i < 40; i++) graph.apply("ADDED", pod(`q-${i}`, 2000 + i));
    await platform.waitUntil(() => platform.snapshots.length === 2, "a second snapshot");
    assert((counts.get("dropped buffer_full") ?? 0) > 0);
    assert(logs.some((l) => l.includes("buffer full")));
    const second = platform.snapshots[1]!.body as { resources: Record<string, Resource[]> };
    assertEquals(second.resources.pods!.length, 45);
  }));

Deno.test("Streamer drops a batch the platform refuses, and goes on", () =>
  withStreamer({}, async ({ platform, graph, counts }) => {
    await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
    platform.inject("/api/v1/agent/events", { status: 400 });
    graph.apply("ADDED", pod("refused", 3000));
    await platform.waitUntil(
      () => platform.rawBodies.some((b) => b.includes('"refused"')),
      "the batch",
    );
    graph.apply("ADDED", pod("accepted", 3001));
    await platform.waitUntil(() => platform.events.some((e) => e.name === "accepted"), "the next");
    assert((counts.get("dropped rejected") ?? 0) >= 1);
    assert(!platform.events.some((e) => e.name === "refused"));
  }));

Deno.test("Streamer drains on shutdown, and stops at once otherwise", async () => {
  await withStreamer(
    { eventsPerSecond: 1, burstSize: 1 },
    async ({ platform, graph, stop, counts }) => {
      await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
      for (let i = 0; i < 3; i++) graph.apply("ADDED", pod(`d-${i}`, 4000 + i));
      // The bucket lets one event a second through: the drain sends the rest before stopping.
      await stop(true);
      const pods = platform.events.filter((e) => e.kind === "Pod").map((e) => e.name);
      assertEquals(pods, ["d-0", "d-1", "d-2"]);
      assertEquals(counts.get("dropped shutdown"), undefined);
    },
  );
  await withStreamer(
    { eventsPerSecond: 0.01, burstSize: 1 },
    async ({ platform, graph, stop, counts }) => {
      await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
      for (let i = 0; i < 3; i++) graph.apply("ADDED", pod(`s-${i}`, 5000 + i));
      await platform.waitUntil(() => platform.events.length > 0, "the first event");
      await stop(false);
      assert((counts.get("dropped shutdown") ?? 0) > 0);
    },
  );
});
