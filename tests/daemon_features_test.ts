/**
 * Each feature of the daemon switched off in turn (Kata by `kata.enabled`, core collection
 * and retention by a store that cannot be opened, Kubernetes by the absence of a cluster):
 * the others still serve, `/readyz` waits only for what runs, and the HTTP API answers.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { startFakeShim, withSocketDir } from "./support/fake_shim.ts";
import { renderShimMetrics } from "./support/kata_metrics.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { waitFor } from "./support/net.ts";
import type { CoreRecord } from "../lib/store/core_index.ts";

const noGcc = skipNotice("gcc", haveGcc());
const SANDBOX = "a".repeat(64);

type Off = "kata" | "collector" | "kubernetes";

/** Runs the daemon with `off` switched off, over a fake shim, a core and the emulator. */
function withFeatureOff(off: Off, check: (daemon: TestDaemon, dir: string) => Promise<void>) {
  return withTempDir((dir) =>
    withSocketDir(async (sockets) => {
      const emu = await KubeEmulator.start();
      const shim = await startFakeShim(`${sockets}/v`, SANDBOX, {
        mode: "ok",
        body: () => renderShimMetrics(SANDBOX, 1),
      });
      await Deno.mkdir(`${dir}/in`);
      const storage = off === "collector"
        ? "storage: {backend: s3}" // no bucket: the store cannot be opened
        : `storage: {local: {path: ${dir}/store}}`;
      let daemon: TestDaemon | undefined;
      try {
        daemon = await startDaemon({
          dir,
          config: `${storage}
kata: {enabled: ${
            off !== "kata"
          }, sandboxRoots: [${sockets}/v], runtimeEndpoint: ${sockets}/none.sock, metricsInterval: 1s}
analyzer: {useGdb: false, valueThreshold: 1}
discovery: {kubeconfig: ${
            off === "kubernetes" ? `${dir}/no-kubeconfig` : await emu.writeKubeconfig(`${dir}/kc`)
          }}`,
          env: { AGENT_COLLECTOR_PATHS: `${dir}/in`, AGENT_COLLECTOR_SETTLE_INTERVAL: "200ms" },
        });
        await waitFor(async () => (await fetch(`${daemon!.base}/readyz`)).ok, "readiness");
        await check(daemon, dir);
      } finally {
        const log = await daemon?.stop();
        await shim.stop();
        await emu.close();
        if (log !== undefined) assert(!log.includes("uncaught error"), log);
      }
    })
  );
}

async function metricsOf(daemon: TestDaemon): Promise<string> {
  return await (await fetch(`${daemon.base}/metrics`)).text();
}

/** Drops a real core in the watched directory and waits until `/cores` lists it stored. */
async function collectsACore(daemon: TestDaemon, dir: string): Promise<void> {
  const { segv } = await sampleCores();
  await Deno.copyFile(segv.core, `${dir}/in/core.42`);
  await waitFor(async () => {
    const cores: CoreRecord[] = await (await fetch(`${daemon.base}/cores`)).json();
    return cores.some((c) => c.state === "stored");
  }, "the core stored");
}

async function servesTheSandbox(daemon: TestDaemon): Promise<void> {
  assertEquals(await (await fetch(`${daemon.base}/sandboxes`)).text(), `${SANDBOX}\n`);
  await waitFor(
    async () => (await metricsOf(daemon)).includes(`sandbox_id="${SANDBOX}"`),
    "the sandbox's metrics",
  );
}

Deno.test({
  name: "the daemon with Kata off collects cores and watches the cluster",
  ignore: noGcc,
  fn: () =>
    withFeatureOff("kata", async (daemon, dir) => {
      await collectsACore(daemon, dir);
      assertEquals(await (await fetch(`${daemon.base}/sandboxes`)).text(), "");
      const metrics = await metricsOf(daemon);
      assertStringIncludes(metrics, 'agent_feature_up{feature="kubernetes"} 1');
      assert(!metrics.includes('feature="kata"'), "kata is not reported when it is off");
    }),
});

Deno.test({
  name: "the daemon without a store serves the sandboxes and watches the cluster",
  ignore: noGcc,
  fn: () =>
    withFeatureOff("collector", async (daemon) => {
      await servesTheSandbox(daemon);
      const metrics = await metricsOf(daemon);
      assertStringIncludes(metrics, 'agent_feature_up{feature="collector"} 0');
      assertStringIncludes(metrics, 'agent_feature_up{feature="kubernetes"} 1');
      assertEquals(await (await fetch(`${daemon.base}/cores`)).json(), []);
      assertStringIncludes(daemon.log(), "core collection off");
    }),
});

Deno.test({
  name: "the daemon without a cluster collects cores and serves the sandboxes",
  ignore: noGcc,
  fn: () =>
    withFeatureOff("kubernetes", async (daemon, dir) => {
      await collectsACore(daemon, dir);
      await servesTheSandbox(daemon);
      assertStringIncludes(await metricsOf(daemon), 'agent_feature_up{feature="kubernetes"} 0');
      assertStringIncludes(daemon.log(), "Kubernetes features off");
    }),
});
