/**
 * Three daemons against one Kubernetes API emulator and one platform: exactly one streams;
 * killed, another takes the Lease over once it expires and streams; stopped, the leader
 * releases the Lease and another takes over at once; no change is sent by two leaders.
 */
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { waitFor } from "./support/net.ts";
import { PlatformEmulator, seedStreaming } from "./support/platform.ts";
import type { Resource } from "../lib/cluster/mod.ts";

async function leading(daemon: TestDaemon): Promise<boolean> {
  const text = await (await fetch(`${daemon.base}/metrics`)).text();
  return text.includes("agent_platform_leader 1");
}

function holder(emu: KubeEmulator): string {
  const lease = emu.get("leases", "agent-system", "agent-platform");
  return String((lease?.spec as Record<string, unknown> | undefined)?.holderIdentity ?? "");
}

Deno.test("one of three daemons streams; the Lease hands over when it dies or stops", async () => {
  await withTempDir(async (dir) => {
    const emu = await KubeEmulator.start({ bookmarkIntervalMs: 500 });
    const platform = await PlatformEmulator.start();
    const daemons: TestDaemon[] = [];
    const stopped = new Set<TestDaemon>();
    let ticking = true;
    try {
      seedStreaming(emu, platform);
      const kubeconfig = await emu.writeKubeconfig(`${dir}/kubeconfig`, "agent-system");
      for (const name of ["node-a", "node-b", "node-c"]) {
        await Deno.mkdir(`${dir}/${name}`);
        daemons.push(
          await startDaemon({
            dir: `${dir}/${name}`,
            config: `nodeName: ${name}
discovery: {kubeconfig: ${kubeconfig}}
kata: {enabled: false}
node: {collectors: []}
platform:
  url: ${platform.url}
  credentialsSecretRef: agent-system/platform-credentials
  rateLimit: {eventsPerSecond: 1000, burstSize: 1000}
  leaderElection: {leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 300ms}`,
          }),
        );
      }
      const leaders = async () => {
        const flags = await Promise.all(
          daemons.map((d) => stopped.has(d) ? Promise.resolve(false) : leading(d)),
        );
        return daemons.filter((_, i) => flags[i]);
      };
      await platform.waitUntil(() => platform.snapshots.length === 1, "the first snapshot");
      await waitFor(async () => (await leaders()).length === 1, "one leader");
      // A change every 100 ms, all along the handovers.
      let tick = 0;
      const ticker = (async () => {
        while (ticking) {
          const pod = emu.get("pods", "shop", "web-7d9f8b6c5-xxxx0")!;
          (pod.metadata as Record<string, unknown>).labels = { app: "web", tick: String(++tick) };
          emu.put(pod);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const first = (await leaders())[0]!;
      const firstHolder = holder(emu);
      assert(firstHolder.startsWith(`node-${"abc"[daemons.indexOf(first)]}_`), firstHolder);
      await platform.waitUntil(() => platform.batches.length > 0, "events from the first leader");

      // Killed: no release; another takes over once the Lease expires.
      const killedAt = performance.now();
      first.child.kill("SIGKILL");
      await first.child.status;
      stopped.add(first);
      await waitFor(() => holder(emu) !== firstHolder, "another holder", 30_000);
      const handoverMs = performance.now() - killedAt;
      await platform.waitUntil(
        () => platform.snapshots.length === 2,
        "the second leader's snapshot",
      );
      await waitFor(async () => (await leaders()).length === 1, "the second leader's flag");
      const second = (await leaders())[0]!;
      assert(second !== first);
      const secondHolder = holder(emu);
      const sessions = () => new Set(platform.batches.map((b) => b.body.session));
      await platform.waitUntil(() => sessions().size === 2, "events from the second leader");

      // Stopped: the Lease is released, the third takes over without waiting for it to expire.
      await second.stop();
      stopped.add(second);
      await waitFor(() => holder(emu) !== secondHolder && holder(emu) !== "", "the third holder");
      await platform.waitUntil(
        () => platform.snapshots.length === 3,
        "the third leader's snapshot",
      );
      await platform.waitUntil(() => sessions().size === 3, "events from the third leader");
      // /metrics is rendered at most once a second: the flag may lag the Lease a little.
      await waitFor(async () => (await leaders()).length === 1, "the third leader's flag");
      ticking = false;
      await ticker;

      // No change was sent by two leaders.
      const senders = new Map<string, Set<string>>();
      for (const batch of platform.batches) {
        for (const event of batch.body.events) {
          if (event.kind === "Relationship") continue;
          const rv = (event.object as Resource).metadata.resourceVersion;
          const key = `${event.type} ${event.kind} ${event.uid} ${rv}`;
          senders.set(key, (senders.get(key) ?? new Set()).add(batch.body.session));
        }
      }
      const twice = [...senders].filter(([, s]) => s.size > 1).map(([k]) => k);
      assertEquals(twice, []);
      const lease = emu.get("leases", "agent-system", "agent-platform")!;
      assertEquals((lease.spec as Record<string, unknown>).leaseTransitions, 2);
      // The Lease lasts 3 s and is tried every 0.3 s: the takeover came within about that.
      assert(handoverMs < 3000 + 300 + 5000, `handover took ${handoverMs} ms`);
    } finally {
      ticking = false;
      for (const d of daemons) if (!stopped.has(d)) await d.stop();
      await platform.close();
      await emu.close();
    }
  });
});
