/**
 * The AgentConfig custom resource: its CRD served by the Kubernetes API emulator and checked
 * by the real kubectl (schema validation, defaults, printer columns, the status
 * subresource), and the daemon taking its platform settings from one and writing its status.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { kubectl as runKubectl } from "./support/kube/kubectl.ts";
import { waitFor } from "./support/net.ts";
import { PlatformEmulator, seedStreaming } from "./support/platform.ts";

const noKubectl = skipNotice("kubectl", haveCommand("kubectl"));
const CRD = new URL("../manifests/crd-agentconfig.yaml", import.meta.url).pathname;

/** kubectl on `kubeconfig`, whose directory is its HOME. */
function kubectlIn(kubeconfig: string) {
  return (args: string[], stdin?: string) => runKubectl(kubeconfig, args, stdin);
}

function agentConfig(spec: string): string {
  return `apiVersion: agent.dev/v1
kind: AgentConfig
metadata:
  name: agent
  namespace: agent-system
spec:
${spec}`;
}

Deno.test({
  name: "kubectl applies the AgentConfig CRD and validates AgentConfigs against its schema",
  ignore: noKubectl,
  fn: () =>
    withTempDir(async (dir) => {
      const emu = await KubeEmulator.start();
      try {
        emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "agent-system" } });
        const kubectl = kubectlIn(await emu.writeKubeconfig(`${dir}/kc`, "agent-system"));
        const crd = await kubectl(["apply", "-f", CRD]);
        assertEquals(crd.code, 0, crd.stderr);
        assertStringIncludes(
          crd.stdout,
          "customresourcedefinition.apiextensions.k8s.io/agentconfigs.agent.dev created",
        );
        const bad = await kubectl(
          ["apply", "-f", "-"],
          agentConfig(`  platformURL: https://p.example.com
  credentialsSecretRef: {name: creds}
  rateLimit: {eventsPerSecond: 5000, burstSize: 0}`),
        );
        assertEquals(bad.code, 1);
        assertStringIncludes(bad.stderr, "spec.rateLimit.eventsPerSecond: Invalid value: 5000");
        assertStringIncludes(bad.stderr, "should be less than or equal to 1000");
        assertStringIncludes(bad.stderr, "spec.rateLimit.burstSize: Invalid value: 0");
        const noUrl = await kubectl(
          ["apply", "-f", "-"],
          agentConfig("  credentialsSecretRef: {name: creds}"),
        );
        assertEquals(noUrl.code, 1);
        assertStringIncludes(noUrl.stderr, "spec.platformURL: Required value");
        const good = await kubectl(
          ["apply", "-f", "-"],
          agentConfig(`  platformURL: https://p.example.com
  credentialsSecretRef: {name: creds}`),
        );
        assertEquals(good.code, 0, good.stderr);
        assertStringIncludes(good.stdout, "agentconfig.agent.dev/agent created");
        const stored = emu.get("agentconfigs", "agent-system", "agent")!;
        assertEquals((stored.spec as Record<string, unknown>).syncInterval, "5m");
        assertEquals((stored.spec as Record<string, unknown>).rateLimit, undefined);
        const table = await kubectl(["get", "agentconfigs"]);
        assertEquals(table.code, 0, table.stderr);
        assert(
          /^NAME +PLATFORM +AVAILABLE +SYNCING +LAST SYNC +AGE\n/.test(table.stdout),
          table.stdout,
        );
        assert(/^agent +https:\/\/p\.example\.com +\d+s\n/m.test(table.stdout), table.stdout);
      } finally {
        await emu.close();
      }
    }),
});

Deno.test({
  name: "the daemon streams with an AgentConfig's settings and writes its status",
  ignore: noKubectl,
  fn: () =>
    withTempDir(async (dir) => {
      const emu = await KubeEmulator.start({ bookmarkIntervalMs: 500 });
      const platform = await PlatformEmulator.start();
      let daemon: TestDaemon | undefined;
      try {
        seedStreaming(emu, platform, { clientId: "agent-7", secret: "creds" });
        const kubeconfig = await emu.writeKubeconfig(`${dir}/kc`, "agent-system");
        const kubectl = kubectlIn(kubeconfig);
        assertEquals((await kubectl(["apply", "-f", CRD])).code, 0);
        const applied = await kubectl(
          ["apply", "-f", "-"],
          agentConfig(`  platformURL: ${platform.url}
  clusterName: from-the-crd
  credentialsSecretRef: {name: creds}
  syncInterval: 1s
  rateLimit: {eventsPerSecond: 500, burstSize: 500}`),
        );
        assertEquals(applied.code, 0, applied.stderr);
        daemon = await startDaemon({
          dir,
          config: `discovery: {kubeconfig: ${kubeconfig}}
kata: {enabled: false}
node: {collectors: []}
platform:
  agentConfig: agent
  leaderElection: {leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}`,
        });
        await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
        assertEquals(platform.snapshots[0]!.body.cluster_name, "from-the-crd");
        assertEquals(platform.snapshots[0]!.clientId, "agent-7");
        const status = () =>
          (emu.get("agentconfigs", "agent-system", "agent")!.status ?? {}) as Record<
            string,
            unknown
          >;
        await waitFor(() => {
          const conditions = (status().conditions ?? []) as { type: string; status: string }[];
          return conditions.some((c) => c.type === "Available" && c.status === "True") &&
            conditions.some((c) => c.type === "Syncing" && c.status === "True");
        }, "the status written");
        const kubeSystem = emu.get("namespaces", undefined, "kube-system")!;
        assertEquals(status().clusterUID, (kubeSystem.metadata as { uid: string }).uid);
        assertEquals((status().resourceCounts as Record<string, number>).Pod, 5);
        assertEquals(status().observedGeneration, 1);
        assert(typeof status().lastSnapshotTime === "string");
        assert(String(status().leader).includes("_"));
        const table = await kubectl(["get", "agentconfigs"]);
        assert(
          /^agent +http:\/\/127\.0\.0\.1:\d+ +True +True +\d+s +\d+s\n/m.test(table.stdout),
          table.stdout,
        );
        // A changed spec is applied at once: a new snapshot with the new name.
        const patched = await kubectl([
          "patch",
          "agentconfig",
          "agent",
          "--type=merge",
          "-p",
          '{"spec":{"clusterName":"renamed"}}',
        ]);
        assertEquals(patched.code, 0, patched.stderr);
        await platform.waitUntil(
          () => platform.snapshots.some((s) => s.body.cluster_name === "renamed"),
          "a snapshot with the new name",
        );
        await waitFor(() => status().observedGeneration === 2, "the new generation observed");
        // Credentials that cannot be found turn Available false, with the reason.
        emu.remove("secrets", "agent-system", "creds");
        platform.revokeTokens();
        const pod = emu.get("pods", "shop", "web-7d9f8b6c5-xxxx0")!;
        (pod.metadata as Record<string, unknown>).labels = { app: "web", x: "y" };
        emu.put(pod);
        await waitFor(
          () => {
            const conditions = (status().conditions ?? []) as {
              type: string;
              status: string;
              reason: string;
            }[];
            return conditions.some((c) =>
              c.type === "Available" && c.status === "False" && c.reason === "CredentialsMissing"
            );
          },
          "Available false for the missing credentials",
          60_000,
        );
      } finally {
        const log = await daemon?.stop();
        await platform.close();
        await emu.close();
        if (log !== undefined) assert(!log.includes("BEGIN PRIVATE KEY"));
      }
    }),
});
