/**
 * The daemon's anomaly detection, black-box: over the node collectors of this host and a Kata
 * sandbox (a fake shim, its pod named by a fake CRI runtime) and a GPU (a stand-in nvidia-smi),
 * `/metrics` gains anomaly scores per series (the sandbox's by namespace and pod, the GPU's
 * alone and as a vector), `agent_anomaly_active` and a memory forecast, clean for promtool; what the detectors learned is in the state database after a
 * stop and is used again by the next start.
 */
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { fakeCri, sandbox } from "./support/fake_cri.ts";
import { startFakeShim, withSocketDir } from "./support/fake_shim.ts";
import { renderShimMetrics } from "./support/kata_metrics.ts";
import { waitFor } from "./support/net.ts";
import { promtoolCheck } from "./support/promtool.ts";

const SANDBOX = "b".repeat(64);
/** A stand-in `nvidia-smi` replaying an A100 node (see tests/support/bin/nvidia-smi). */
const BIN = new URL("./support/bin", import.meta.url).pathname;
const A100 = new URL("../lib/node/testdata/nvidia-smi/a100", import.meta.url).pathname;
const noPromtool = skipNotice("promtool", haveCommand("promtool"));

async function metricsOf(daemon: TestDaemon): Promise<string> {
  return await (await fetch(`${daemon.base}/metrics`)).text();
}

function baselines(dir: string): { key: string; updated_ms: number }[] {
  const db = new DatabaseSync(`${dir}/state/state.db`, { readOnly: true });
  try {
    return db.prepare("SELECT key, updated_ms FROM anomaly_baselines ORDER BY key").all() as {
      key: string;
      updated_ms: number;
    }[];
  } finally {
    db.close();
  }
}

Deno.test("the daemon scores its series, forecasts memory, and keeps its baselines", async () => {
  await withTempDir((dir) =>
    withSocketDir(async (sockets) => {
      let tick = 0;
      const shim = await startFakeShim(`${sockets}/v`, SANDBOX, {
        mode: "ok",
        body: () => renderShimMetrics(SANDBOX, tick++),
      });
      const cri = await fakeCri({ ListPodSandbox: () => ({ items: [sandbox(SANDBOX)] }) });
      const config = `kata: {sandboxRoots: [${sockets}/v], runtimeEndpoint: ${cri.socket}, ` +
        `metricsInterval: 1s, criSyncInterval: 200ms}
discovery: {kubeconfig: ${dir}/no-kubeconfig}
anomaly: {interval: 1s, saveInterval: 1s, forecastHorizon: 8s}`;
      const start = () =>
        startDaemon({
          dir,
          config,
          env: { PATH: `${BIN}:${Deno.env.get("PATH") ?? ""}`, NVIDIA_SMI_FIXTURE: A100 },
        });
      let daemon: TestDaemon | undefined;
      try {
        daemon = await start();
        let text = "";
        await waitFor(
          async () => {
            text = await metricsOf(daemon!);
            return [
              'agent_anomaly_score{series="node_load1"}',
              'agent_anomaly_score{series="node_cpu_busy"}',
              `agent_anomaly_score{namespace="default",pod="pod-${SANDBOX}",series="sandbox_memory"}`,
              `agent_anomaly_active{namespace="default",pod="pod-${SANDBOX}",series="sandbox_cpu"}`,
              'agent_forecast_seconds_to_full{resource="memory",device="",mountpoint=""}',
              'agent_anomaly_score{gpu="0",series="gpu_temperature"}',
              // The GPU's temperature, power and utilization together, as one vector.
              'agent_anomaly_score{gpu="0",series="gpu"}',
              // A sandbox's CPU, memory and threads together.
              `agent_anomaly_score{namespace="default",pod="pod-${SANDBOX}",series="sandbox"}`,
            ].every((part) => text.includes(part));
          },
          "anomaly scores and a forecast on /metrics",
          60_000,
        );
        const score = Number(/^agent_anomaly_score\{series="node_load1"\} (\S+)$/m.exec(text)![1]);
        assert(score >= 0 && score <= 1, `${score}`);
        if (!noPromtool) {
          const checked = await promtoolCheck(text);
          assertEquals(checked.defects, []);
        }
        await daemon.stop();
        daemon = undefined;
        const saved = baselines(dir);
        const keys = saved.map((b) => b.key);
        assert(keys.some((k) => k.includes('"node_load1"')), keys.join("\n"));
        assert(keys.some((k) => k.startsWith("fill|") && k.includes('"memory"')), keys.join("\n"));
        const load = saved.find((b) => b.key.includes('"node_load1"'))!;
        daemon = await start();
        await waitFor(
          () =>
            Promise.resolve(
              baselines(dir).find((b) => b.key === load.key)!.updated_ms > load.updated_ms,
            ),
          "the baseline written again by the next start",
          30_000,
        );
      } finally {
        const log = await daemon?.stop();
        await shim.stop();
        await cri.close();
        if (log !== undefined) assert(!log.includes("uncaught error"), log);
      }
    })
  );
});
