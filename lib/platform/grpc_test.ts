import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { GrpcPlatform, noNode } from "../../tests/support/grpc_platform.ts";
import { clusterObjects } from "../../tests/support/kube/cluster_fixtures.ts";
import { ecKeyPair, PlatformEmulator } from "../../tests/support/platform.ts";
import { waitFor } from "../../tests/support/net.ts";
import { findKind, reduceObject, type Resource, ResourceGraph } from "../cluster/mod.ts";
import type { KubeObject } from "../kube/mod.ts";
import { createLogger } from "../log.ts";
import { parseCredentials } from "./credentials.ts";
import { GrpcTransport, type GrpcTransportOptions } from "./grpc.ts";
import { PlatformHttp } from "./http.ts";
import type { PlatformEvent } from "./payload.ts";
import { PlatformUnreachable } from "./http.ts";

interface Fixture {
  platform: PlatformEmulator;
  stream: GrpcPlatform;
  transport: GrpcTransport;
  graph: ResourceGraph;
}

async function withStream(
  options: Partial<GrpcTransportOptions>,
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const platform = await PlatformEmulator.start();
  const stream = await GrpcPlatform.start(`${platform.url}/oauth/introspect`);
  const keys = ecKeyPair();
  platform.registerClient("agent-1", keys.publicKey);
  const credentials = parseCredentials({ client_id: "agent-1", private_key: keys.pem }, "test");
  const http = new PlatformHttp({ url: platform.url, credentials: () => credentials });
  const graph = new ResourceGraph();
  let rv = 1;
  for (const object of clusterObjects()) {
    const resource = reduceObject(findKind(String(object.kind))!, object as KubeObject);
    resource.metadata.resourceVersion = String(rv++);
    graph.apply("ADDED", resource);
  }
  const transport = new GrpcTransport({
    target: stream.target,
    secure: false,
    token: (signal) => http.token(signal),
    invalidateToken: (token) => http.invalidate(token),
    clusterUid: () => "cluster-1",
    log: createLogger({ level: "error", format: "json", write: () => {} }),
    random: () => 0,
    ...options,
  });
  try {
    await fn({ platform, stream, transport, graph });
  } finally {
    await transport.close();
    await stream.close();
    graph.close();
    await platform.close();
  }
}

function events(from: number, count: number): PlatformEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    type: "ADDED" as const,
    kind: "Pod",
    uid: `uid-${from + i}`,
    name: `p-${from + i}`,
    namespace: "shop",
    object: { kind: "Pod", metadata: { name: `p-${from + i}` } },
  }));
}

const signal = () => AbortSignal.timeout(30_000);

Deno.test({
  name: "GrpcTransport streams a snapshot in chunks, events in batches of 100, heartbeats",
  ignore: noNode,
  fn: () =>
    withStream({ heartbeatMs: 200 }, async ({ platform, stream, transport, graph }) => {
      const header = {
        cluster_uid: "cluster-1",
        cluster_name: "grpc",
        kubernetes_version: "v1.30.0",
        platform: "kind",
        region: "",
        agent_version: "0.1.0",
      };
      await transport.snapshot(header, graph, signal());
      const [snapshot] = stream.snapshots() as {
        cluster_name: string;
        resources: Record<string, Resource[]>;
      }[];
      assertEquals(snapshot!.cluster_name, "grpc");
      assertEquals(snapshot!.resources.pods!.length, 5);
      await transport.events(events(0, 250), signal());
      await stream.waitUntil(() => stream.events.length === 250, "250 events");
      const sizes = stream.frames.filter((f) => f.events).map((f) => f.events!.events.length);
      assertEquals(sizes, [100, 100, 50]);
      assertEquals(
        JSON.parse(stream.events[7]!.object_json).metadata.name,
        "p-7",
      );
      await stream.waitUntil(() => stream.frames.some((f) => f.heartbeat), "a heartbeat");
      assertEquals(stream.frames[0]!.cluster_uid, "cluster-1");
      assertEquals(platform.tokenRequests.filter((t) => t.ok).length, 1);
      assertEquals([stream.gaps, stream.duplicates], [0, 0]);
    }),
});

Deno.test({
  name: "GrpcTransport loses and repeats nothing across broken calls and a restarted server",
  ignore: noNode,
  fn: () =>
    withStream(
      { batchSize: 10, batchDelayMs: 20, rotateFrames: 8, heartbeatMs: 300 },
      async ({ stream, transport }) => {
        let sent = 0;
        const send = async (n: number) => {
          await transport.events(events(sent, n), signal());
          sent += n;
        };
        await send(30);
        await stream.waitUntil(() => stream.events.length >= 10, "the first frames");
        await stream.breakAfter(2);
        await send(50);
        await stream.waitUntil(() => stream.events.length === 80, "80 events after a break");
        await stream.stop();
        await send(40); // kept while the server is down
        await stream.restart();
        await send(30);
        await stream.waitUntil(() => stream.events.length === 150, "150 events after a restart");
        assertEquals(stream.events.map((e) => e.name), events(0, 150).map((e) => e.name));
        assertEquals([stream.gaps, stream.duplicates], [0, 0]);
        await waitFor(() => transport.unacknowledged === 0, "every frame acknowledged");
      },
    ),
});

Deno.test({
  name: "GrpcTransport gets a new token when the platform refuses the one it has",
  ignore: noNode,
  fn: () =>
    withStream({ batchDelayMs: 20 }, async ({ platform, stream, transport }) => {
      await transport.events(events(0, 5), signal());
      await stream.waitUntil(() => stream.events.length === 5, "5 events");
      platform.revokeTokens();
      // The call breaks; the agent comes back with the token it has, is refused, gets another.
      await stream.breakAfter(1);
      await transport.events(events(5, 5), signal());
      await waitFor(() => stream.unauthenticated >= 1, "the revoked token refused");
      await transport.events(events(10, 5), signal());
      await stream.waitUntil(() => stream.events.length === 15, "15 events");
      assertEquals(platform.tokenRequests.filter((t) => t.ok).length, 2);
      assertEquals([stream.gaps, stream.duplicates], [0, 0]);
    }),
});

Deno.test({
  name: "GrpcTransport refuses events once too many wait for an acknowledgement",
  ignore: noNode,
  fn: () =>
    withStream(
      { maxUnackedEvents: 50, batchDelayMs: 20, heartbeatMs: 300 },
      async ({ stream, transport }) => {
        await transport.events(events(0, 1), signal());
        await stream.waitUntil(() => stream.events.length === 1, "the first event");
        // Acknowledged (the call ends every heartbeat), so that the next 50 fill the window.
        await waitFor(() => transport.unacknowledged === 0, "the first acknowledgement");
        await stream.stop();
        await transport.events(events(1, 50), signal());
        await assertRejects(() => transport.events(events(51, 1), signal()), PlatformUnreachable);
        await stream.restart();
        await stream.waitUntil(() => stream.events.length === 51, "the kept events");
        await waitFor(() => transport.unacknowledged === 0, "every frame acknowledged");
        await transport.events(events(51, 1), signal());
      },
    ),
});
