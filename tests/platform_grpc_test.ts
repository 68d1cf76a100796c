/**
 * The daemon streaming over gRPC (`platform.transport: grpc`) to a real `@grpc/grpc-js`
 * server, its token from the platform emulator's OAuth endpoint.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { GrpcPlatform, noNode } from "./support/grpc_platform.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { PlatformEmulator, seedStreaming } from "./support/platform.ts";
import type { Resource } from "../lib/cluster/mod.ts";

Deno.test({
  name: "the daemon streams the cluster over gRPC, and carries on after the call breaks",
  ignore: noNode,
  fn: () =>
    withTempDir(async (dir) => {
      const emu = await KubeEmulator.start({ bookmarkIntervalMs: 500 });
      const platform = await PlatformEmulator.start();
      const stream = await GrpcPlatform.start(`${platform.url}/oauth/introspect`);
      let daemon: TestDaemon | undefined;
      try {
        seedStreaming(emu, platform);
        const kubeconfig = await emu.writeKubeconfig(`${dir}/kubeconfig`, "agent-system");
        daemon = await startDaemon({
          dir,
          config: `discovery: {kubeconfig: ${kubeconfig}}
kata: {enabled: false}
node: {collectors: []}
platform:
  url: ${platform.url}
  transport: grpc
  grpcTarget: grpc://${stream.target}
  clusterName: over-grpc
  credentialsSecretRef: agent-system/platform-credentials
  rateLimit: {eventsPerSecond: 1000, burstSize: 1000}
  leaderElection: {leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}`,
        });
        await stream.waitUntil(() => stream.snapshots().length === 1, "the snapshot over gRPC");
        const snapshot = stream.snapshots()[0] as {
          cluster_name: string;
          resources: Record<string, Resource[]>;
        };
        assertEquals(snapshot.cluster_name, "over-grpc");
        assertEquals(snapshot.resources.pods!.length, 5);
        assertEquals(platform.snapshots.length, 0); // nothing over HTTP but the token
        await stream.breakAfter(1);
        for (let i = 0; i < 5; i++) {
          const pod = emu.get("pods", "shop", "web-7d9f8b6c5-xxxx0")!;
          (pod.metadata as Record<string, unknown>).labels = { app: "web", n: String(i) };
          emu.put(pod);
        }
        await stream.waitUntil(
          () => stream.events.filter((e) => e.kind === "Pod" && e.type === "UPDATED").length === 5,
          "five updates over gRPC",
        );
        const labels = stream.events.filter((e) => e.kind === "Pod" && e.type === "UPDATED")
          .map((e) => JSON.parse(e.object_json).metadata.labels.n);
        assertEquals(labels, ["0", "1", "2", "3", "4"]);
        assertEquals([stream.gaps, stream.duplicates], [0, 0]);
        assert(platform.tokenRequests.every((t) => t.ok));
      } finally {
        await daemon?.stop();
        await stream.close();
        await platform.close();
        await emu.close();
      }
    }),
});
