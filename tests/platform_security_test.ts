/**
 * Secret and ConfigMap values never leave the API server's answers: a canary value planted in
 * a Secret (data, and the last-applied annotation) and a ConfigMap is looked for, after the
 * daemon listed and then watched them change, in every payload the platform received, the
 * daemon's log, `/metrics`, the graph's SQLite file, and a heap snapshot of the running daemon
 * taken through V8's inspector. The credentials' private key is looked for too.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { heapSnapshot } from "./support/inspector.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { appObjects } from "./support/kube/cluster_fixtures.ts";
import { freePort } from "./support/net.ts";
import { PlatformEmulator, seedStreaming } from "./support/platform.ts";

const CANARY = "canary-7Hq2xR9vLm4sT8wZ";

/** The forms the canary takes on the wire: plain, base64 (Secret data), JSON-escaped. */
const FORMS = [CANARY, btoa(CANARY), btoa(`token: ${CANARY}\n`).slice(0, 16)];

function leaks(text: string): string[] {
  return FORMS.filter((form) => text.includes(form));
}

Deno.test("no Secret or ConfigMap value reaches a payload, a log, the graph or the daemon's heap", () =>
  withTempDir(async (dir) => {
    const emu = await KubeEmulator.start({ bookmarkIntervalMs: 500 });
    const platform = await PlatformEmulator.start();
    let daemon: TestDaemon | undefined;
    try {
      seedStreaming(emu, platform, { canary: CANARY });
      const pem = atob(
        String(
          (emu.get("secrets", "agent-system", "platform-credentials")!.data as Record<
            string,
            string
          >).private_key,
        ),
      );
      const keyBody = pem.split("\n")[2]!; // a line of the key's base64, not the header
      const kubeconfig = await emu.writeKubeconfig(`${dir}/kubeconfig`, "agent-system");
      const inspectPort = freePort();
      daemon = await startDaemon({
        dir,
        inspectPort,
        config: `discovery: {kubeconfig: ${kubeconfig}}
kata: {enabled: false}
node: {collectors: []}
platform:
  url: ${platform.url}
  credentialsSecretRef: agent-system/platform-credentials
  graphPath: ${dir}/graph.db
  rateLimit: {eventsPerSecond: 1000, burstSize: 1000}
  leaderElection: {leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 500ms}`,
      });
      await platform.waitUntil(() => platform.snapshots.length === 1, "the snapshot");
      // The values change: the watch, not only the list, carries them.
      for (
        const object of appObjects({
          namespace: "shop",
          app: "web",
          node: "node-1",
          secretValue: CANARY,
        })
      ) {
        if (object.kind !== "Secret" && object.kind !== "ConfigMap") continue;
        (object.data as Record<string, string>).extra = object.kind === "Secret"
          ? btoa(CANARY)
          : CANARY;
        emu.put(object);
      }
      await platform.waitUntil(
        () =>
          ["Secret", "ConfigMap"].every((kind) =>
            platform.events.some((e) =>
              e.kind === kind && e.type === "UPDATED" &&
              ((e.object as { keys?: string[] }).keys ?? []).includes("extra")
            )
          ),
        "the changed Secret and ConfigMap, as key names",
      );

      const heap = await heapSnapshot(inspectPort);
      // The snapshot holds what the daemon keeps: the Secret's name and key names are there.
      assert(heap.includes("web-db") && heap.includes("extra"), "the heap snapshot looks empty");
      assertEquals(leaks(heap), [], "the canary is in the daemon's heap");
      assert(!heap.includes(keyBody), "the private key's text is in the daemon's heap");

      for (const body of platform.rawBodies) {
        assertEquals(leaks(body), [], "a payload carries the canary");
      }
      const metrics = await (await fetch(`${daemon.base}/metrics`)).text();
      assertEquals(leaks(metrics), []);
      const log = await daemon.stop();
      daemon = undefined;
      assertEquals(leaks(log), [], "the log carries the canary");
      assert(!log.includes(keyBody), "the log carries the private key");
      const graph = new TextDecoder("latin1").decode(await Deno.readFile(`${dir}/graph.db`));
      assert(graph.includes("web-db"), "the graph file holds the resources");
      assertEquals(leaks(graph), [], "the graph file holds the canary");
    } finally {
      await daemon?.stop();
      await platform.close();
      await emu.close();
    }
  }));
