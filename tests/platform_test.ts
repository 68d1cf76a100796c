/**
 * The daemon streaming the cluster to the platform emulator: a snapshot of the Kubernetes
 * API emulator's cluster, then its changes; credentials from a Secret, reloaded when it
 * changes; the Lease held and shown by the real kubectl; the metrics.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { waitFor } from "./support/net.ts";
import {
  credentialsSecret,
  ecKeyPair,
  PlatformEmulator,
  seedStreaming,
} from "./support/platform.ts";
import type { Resource } from "../lib/cluster/mod.ts";

const CANARY = "canary-daemon-4e7c20d9";
const noKubectl = skipNotice("kubectl", haveCommand("kubectl"));

interface Setup {
  emu: KubeEmulator;
  platform: PlatformEmulator;
  daemon: TestDaemon;
  dir: string;
  kubeconfig: string;
}

async function withStreaming(fn: (s: Setup) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const emu = await KubeEmulator.start({ bookmarkIntervalMs: 500 });
    const platform = await PlatformEmulator.start();
    let daemon: TestDaemon | undefined;
    try {
      seedStreaming(emu, platform, { canary: CANARY });
      const kubeconfig = await emu.writeKubeconfig(`${dir}/kubeconfig`, "agent-system");
      daemon = await startDaemon({
        dir,
        config: `discovery: {kubeconfig: ${kubeconfig}}
kata: {enabled: false}
node: {collectors: []}
platform:
  url: ${platform.url}
  clusterName: test-cluster
  credentialsSecretRef: agent-system/platform-credentials
  syncInterval: 1s
  rateLimit: {eventsPerSecond: 1000, burstSize: 1000}
  leaderElection: {leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}`,
      });
      await fn({ emu, platform, daemon, dir, kubeconfig });
    } finally {
      const log = await daemon?.stop();
      await platform.close();
      await emu.close();
      if (log !== undefined) {
        assert(!log.includes("uncaught error"), log);
        assert(!log.includes(CANARY), "the canary was logged");
        assert(!log.includes("BEGIN PRIVATE KEY"), "the private key was logged");
      }
    }
  });
}

Deno.test("the daemon streams a snapshot, then the cluster's changes, to the platform", () =>
  withStreaming(async ({ emu, platform, daemon }) => {
    await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
    const snapshot = platform.snapshots[0]!.body as {
      cluster_uid: string;
      cluster_name: string;
      kubernetes_version: string;
      platform: string;
      region: string;
      agent_version: string;
      resources: Record<string, Resource[]>;
      relationships: { subject: string; predicate: string; object: string }[];
    };
    const kubeSystem = emu.get("namespaces", undefined, "kube-system")!;
    assertEquals(snapshot.cluster_uid, (kubeSystem.metadata as { uid: string }).uid);
    assertEquals(
      [snapshot.cluster_name, snapshot.kubernetes_version, snapshot.platform, snapshot.region],
      ["test-cluster", "v1.30.0-emulator", "kind", "eu-west-1"],
    );
    assertEquals(Object.keys(snapshot.resources).length, 16);
    assertEquals(snapshot.resources.pods!.length, 5);
    assert(snapshot.resources.secrets!.some((s) => s.metadata.name === "web-db"));
    assert(
      snapshot.relationships.some((r) =>
        r.subject === "Ingress/shop/web" && r.predicate === "routes-to"
      ),
    );
    // A change in the cluster becomes an event.
    const pod = emu.get("pods", "shop", "web-7d9f8b6c5-xxxx0")!;
    (pod.status as Record<string, unknown>).phase = "Failed";
    emu.put(pod);
    await platform.waitUntil(
      () =>
        platform.events.some((e) =>
          e.type === "UPDATED" && e.name === "web-7d9f8b6c5-xxxx0" &&
          (e.object as Resource).status?.phase === "Failed"
        ),
      "the pod's update",
    );
    emu.remove("services", "shop", "api");
    await platform.waitUntil(
      () => platform.events.some((e) => e.type === "DELETED" && e.kind === "Service"),
      "the service's deletion",
    );
    await platform.waitUntil(() => platform.heartbeats.length >= 1, "a heartbeat");
    const metrics = await (await fetch(`${daemon.base}/metrics`)).text();
    for (
      const line of [
        "agent_platform_leader 1",
        'agent_feature_up{feature="platform"} 1',
        'agent_platform_graph_resources{kind="Pod"} 5',
        "agent_platform_token_refreshes_total 1",
        "agent_platform_buffer_capacity_events 1000",
      ]
    ) {
      assertStringIncludes(metrics, line);
    }
    assert(/agent_platform_events_sent_total\{kind="Pod"\} [1-9]/.test(metrics), metrics);
    assert(/agent_platform_last_sync_timestamp_seconds 1\d{9}/.test(metrics), metrics);
    assert(/agent_platform_snapshot_duration_seconds_count 1/.test(metrics), metrics);
    for (const body of platform.rawBodies) {
      assert(
        !body.includes(CANARY) && !body.includes(btoa(CANARY)),
        "the canary reached the platform",
      );
    }
    assert(!metrics.includes(CANARY));
  }));

Deno.test("the daemon reloads its credentials when their Secret changes", () =>
  withStreaming(async ({ emu, platform, daemon }) => {
    await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
    // The platform now knows only the new key; the Secret is rotated to it.
    const rotated = ecKeyPair();
    platform.registerClient("agent-1", rotated.publicKey);
    emu.put(credentialsSecret("agent-system", "platform-credentials", "agent-1", rotated.pem));
    const loaded = () =>
      daemon.log().split("\n").filter((l) => l.includes("platform credentials loaded"))
        .map((l) => JSON.parse(l).key as string);
    await waitFor(() => new Set(loaded()).size === 2, "the new key loaded");
    const before = platform.tokenRequests.length;
    platform.revokeTokens();
    const pod = emu.get("pods", "shop", "api-7d9f8b6c5-xxxx0")!;
    (pod.metadata as Record<string, unknown>).labels = { app: "api", rotated: "yes" };
    emu.put(pod);
    await platform.waitUntil(
      () => platform.events.some((e) => (e.object as Resource).metadata?.labels?.rotated === "yes"),
      "the change sent with a token of the new key",
    );
    const after = platform.tokenRequests.slice(before);
    assert(after.length >= 1 && after.every((t) => t.ok), JSON.stringify(after));
  }));

Deno.test({
  name: "kubectl shows the daemon holding the platform Lease",
  ignore: noKubectl,
  fn: () =>
    withStreaming(async ({ platform, dir, kubeconfig }) => {
      await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
      const out = await new Deno.Command("kubectl", {
        args: ["--kubeconfig", kubeconfig, "get", "lease", "-n", "agent-system"],
        env: { HOME: dir },
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      assert(/^NAME +HOLDER +AGE\n/.test(text), text);
      assert(/agent-platform +\S+_[0-9a-f]{8} +\d+s/.test(text), text);
    }),
});
