/**
 * `agent daemon` as a process: probes, metrics checked by promtool, restart watching and
 * crash-loop cleanup against each Kubernetes API server (the emulator, a real one when built),
 * and a clean stop on SIGTERM.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  withTempDir,
} from "./support/assert.ts";
import { agentArgs, DENO_DIR, runAgent } from "./support/cli.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import type { Json } from "./support/kube/_match.ts";
import { kubeServers } from "./support/kube_servers.ts";
import { helmPod, installHelmRelease } from "./support/kube/fixtures.ts";
import { freePort, waitFor } from "./support/net.ts";
import { promtoolCheck } from "./support/promtool.ts";

const noPromtool = skipNotice("promtool", haveCommand("promtool"));

function startDaemon(args: string[], env: Record<string, string>) {
  return new Deno.Command(Deno.execPath(), {
    args: agentArgs(["daemon", ...args]),
    env: { NO_COLOR: "1", DENO_DIR, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

kubeServers({ emulator: { bookmarkIntervalMs: 200 } }).test(
  "the daemon watches restarts, uninstalls a crash loop, serves probes and metrics",
  (kube) =>
    withTempDir(async (dir) => {
      const port = freePort();
      const base = `http://127.0.0.1:${port}`;
      await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
      await installHelmRelease(kube, "prod");
      await installHelmRelease(kube, "staging");
      await kube.put(helmPod("prod", "prod-milvus-querynode-0"));
      await kube.put(helmPod("staging", "staging-milvus-querynode-0", { node: "node-2" }));
      const daemon = startDaemon(
        [
          "--listen-address",
          `127.0.0.1:${port}`,
          "--state-dir",
          `${dir}/state`,
          "--kubeconfig",
          await kube.writeKubeconfig(`${dir}/kc`),
          "--log-format",
          "json",
        ],
        {
          NODE_NAME: "node-1",
          AGENT_CLEANER_ENABLED: "true",
          AGENT_CLEANER_MAX_RESTART_COUNT: "2",
          AGENT_CLEANER_CLEANUP_DELAY: "1s",
        },
      );
      const stderr = new Response(daemon.stderr).text();
      const stdout = new Response(daemon.stdout).text();
      try {
        await waitFor(async () => (await get(`${base}/readyz`)).status === 200, "readiness");
        assertEquals(await get(`${base}/healthz`), { status: 200, text: "ok\n" });
        assertStringIncludes(
          (await get(base)).text,
          "/metrics: the agent's and every sandbox's metrics",
        );
        for (let count = 1; count <= 3; count++) {
          await kube.put(helmPod("prod", "prod-milvus-querynode-0", {
            restarts: count,
            terminated: { reason: "Error", exitCode: 139, finishedAt: new Date().toISOString() },
          }));
        }
        // A crash loop on another node is not this daemon's business.
        for (let count = 1; count <= 3; count++) {
          await kube.put(
            helmPod("staging", "staging-milvus-querynode-0", {
              node: "node-2",
              restarts: count,
              terminated: { reason: "Error", exitCode: 139 },
            }),
          );
        }
        await waitFor(
          async () => (await kube.list("statefulsets", "milvus")).length === 1,
          "the uninstall",
        );
        assertEquals(
          (await kube.list("statefulsets", "milvus")).map((s) => (s.metadata as Json).name),
          [
            "staging-milvus-querynode",
          ],
        );
        // The objects are gone before the cleaner's tick returns and counts the uninstall.
        let metrics = { status: 0, text: "" };
        await waitFor(async () => {
          metrics = await get(`${base}/metrics`);
          return metrics.text.includes('agent_cleanups_total{outcome="uninstalled"} 1');
        }, "the uninstall to be counted");
        assertEquals(metrics.status, 200);
        assertStringIncludes(
          metrics.text,
          'agent_restart_events_total{namespace="milvus",instance="prod",panic="true"} 3',
        );
        assertStringIncludes(metrics.text, 'agent_cleanups_total{outcome="uninstalled"} 1');
        assertStringIncludes(metrics.text, 'agent_feature_up{feature="kubernetes"} 1');
        assertMatch(metrics.text, /agent_pod_watch_cached_pods 1\n/);
        if (!noPromtool) {
          // Lint findings on Kata's own names are accepted (promtool exits 3 for lints).
          const checked = await promtoolCheck(metrics.text);
          assertEquals(checked.defects, []);
          assert(
            checked.code === 0 ||
              checked.kataLints.length + checked.nodeExporterLints.length +
                    checked.cadvisorLints.length + checked.dcgmLints.length > 0,
            String(checked.code),
          );
        }
      } finally {
        daemon.kill("SIGTERM");
        const status = await daemon.status;
        await stdout;
        const log = await stderr;
        assertEquals(status.code, 0, log);
        const lines = log.trim().split("\n").map((l) => JSON.parse(l) as Json);
        assert(lines.some((l) => l.msg === "uninstalled an instance stuck in a crash loop"), log);
        assertEquals(lines.at(-1)?.msg, "stopped");
      }
    }),
);

Deno.test("the daemon runs without a cluster and says so", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const daemon = startDaemon([
      "--listen-address",
      `127.0.0.1:${port}`,
      "--state-dir",
      `${dir}/state`,
    ], {
      HOME: dir,
      KUBECONFIG: "",
    });
    const stderr = new Response(daemon.stderr).text();
    try {
      await waitFor(
        async () => (await get(`http://127.0.0.1:${port}/readyz`)).status === 200,
        "readiness",
      );
      assertStringIncludes(
        (await get(`http://127.0.0.1:${port}/metrics`)).text,
        'agent_feature_up{feature="kubernetes"} 0',
      );
    } finally {
      daemon.kill("SIGTERM");
      assertEquals((await daemon.status).code, 0);
      await daemon.stdout.cancel();
      assertStringIncludes(await stderr, "Kubernetes features off");
    }
  });
});

Deno.test("a storage.retention.interval of 30d does not spin the retention loop", async () => {
  await withTempDir(async (dir) => {
    const port = freePort();
    const daemon = startDaemon(["--listen-address", `127.0.0.1:${port}`], {
      HOME: dir,
      KUBECONFIG: "",
      AGENT_STATE_DIR: `${dir}/state`,
      AGENT_STORAGE_LOCAL_PATH: `${dir}/store`,
      AGENT_COLLECTOR_PATHS: `${dir}/cores`,
      AGENT_KATA_ENABLED: "false",
      AGENT_STORAGE_RETENTION_INTERVAL: "30d",
    });
    const stderr = new Response(daemon.stderr).text();
    try {
      await waitFor(
        async () => (await get(`http://127.0.0.1:${port}/readyz`)).status === 200,
        "readiness",
      );
      // Not a synchronisation: the window in which a loop whose 30-day timer fires after 1 ms
      // would run (and warn) hundreds of times.
      await new Promise((resolve) => setTimeout(resolve, 2000));
    } finally {
      daemon.kill("SIGTERM");
      assertEquals((await daemon.status).code, 0);
      await daemon.stdout.cancel();
    }
    const log = await stderr;
    assert(!log.includes("TimeoutOverflowWarning"), log.slice(0, 2000));
    assert(log.trim().split("\n").length < 10, log.slice(0, 2000));
  });
});

Deno.test("the daemon rejects a bad listen address and an unusable state directory", async () => {
  const bad = await runAgent(["daemon", "--listen-address", "nowhere"]);
  assertEquals([bad.code, bad.stderr], [
    2,
    `Invalid configuration: server.listenAddress (from --listen-address): expected HOST:PORT, got "nowhere"\n`,
  ]);
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "");
    const state = await runAgent([
      "daemon",
      "--listen-address",
      "127.0.0.1:0",
      "--state-dir",
      `${dir}/file/state`,
    ]);
    assertEquals(state.code, 3);
    assertMatch(state.stderr, /^Cannot open the state database in ".*\/file\/state": /);
    const token = await runAgent(["daemon", "--listen-address", "127.0.0.1:0"], {
      env: { AGENT_SERVER_BEARER_TOKEN_FILE: `${dir}/missing-token` },
    });
    assertEquals(token.code, 2);
    assertMatch(token.stderr, /^Cannot read server.bearerTokenFile ".*\/missing-token": /);
  });
});
