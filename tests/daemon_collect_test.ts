/**
 * `agent daemon` collecting cores end to end: real cores dropped into a watched directory,
 * tied to pods the Kubernetes API emulator reports (by hostname, and by a restart at the
 * crash time), stored in the instance's folder, listed on `/cores` and counted in
 * `/metrics`; a clean stop on SIGTERM.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  withTempDir,
} from "./support/assert.ts";
import { agentArgs } from "./support/cli.ts";
import { haveCommand, haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import type { Json } from "./support/kube/_match.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { helmPod, installHelmRelease } from "./support/kube/fixtures.ts";
import { freePort, waitFor } from "./support/net.ts";
import type { CoreRecord } from "../lib/store/core_index.ts";
import { LocalStore } from "../lib/store/local.ts";
import { startFakeShim, withSocketDir } from "./support/fake_shim.ts";
import { renderShimMetrics } from "./support/kata_metrics.ts";

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const noGcc = skipNotice("gcc", haveGcc());

Deno.test({
  name: "the daemon collects cores, ties them to their pods, stores, lists and prunes them",
  ignore: noGcc,
  fn: () =>
    withTempDir((dir) =>
      withSocketDir(async (sockets) => {
        const { segv, abort } = await sampleCores();
        const emu = await KubeEmulator.start({ bookmarkIntervalMs: 200 });
        const port = freePort();
        const base = `http://127.0.0.1:${port}`;
        emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
        await installHelmRelease(emu, "prod");
        emu.put(helmPod("prod", "prod-milvus-querynode-0"));
        emu.put(helmPod("prod", "prod-milvus-datanode-0"));
        await Deno.mkdir(`${dir}/in`);
        const shim = await startFakeShim(`${sockets}/v`, "f".repeat(64), {
          mode: "ok",
          body: () => renderShimMetrics("f".repeat(64), 1),
        });
        // A core stored 60 days ago, which retention removes.
        const old = await new LocalStore(`${dir}/store`).put(segv.core, {
          instance: "prod",
          pod: "prod-milvus-querynode-0",
          container: "main",
          time: new Date(Date.now() - 60 * 86400_000),
          compression: "gzip",
          metadata: { crashTime: new Date(Date.now() - 60 * 86400_000).toISOString(), score: 9 },
        });
        await Deno.writeTextFile(
          `${dir}/agent.yaml`,
          `stateDir: ${dir}/state
collector:
  paths: [${dir}/in]
  settleInterval: 300ms
  rescanInterval: 1s
storage:
  local: {path: ${dir}/store}
  retention: {interval: 500ms}
kata:
  sandboxRoots: [${sockets}/v]
  runtimeEndpoint: ${sockets}/no-runtime.sock
  metricsInterval: 1s
analyzer:
  useGdb: false
  valueThreshold: 5
`,
        );
        const daemon = new Deno.Command(Deno.execPath(), {
          args: agentArgs([
            "--config",
            `${dir}/agent.yaml`,
            "--log-format",
            "json",
            "daemon",
            "--listen-address",
            `127.0.0.1:${port}`,
            "--kubeconfig",
            await emu.writeKubeconfig(`${dir}/kc`),
          ]),
          env: { NO_COLOR: "1", NODE_NAME: "node-1" },
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const stderr = new Response(daemon.stderr).text();
        try {
          await waitFor(async () => (await fetch(`${base}/readyz`)).ok, "readiness");
          // A core whose name carries the pod's hostname.
          const crashTime = Math.floor(Date.now() / 1000);
          await Deno.copyFile(
            segv.core,
            `${dir}/in/core.segv.4242.11.${crashTime}.prod-milvus-querynode-0`,
          );
          // A core with no hostname, while exactly one container restarted at that time.
          emu.put(helmPod("prod", "prod-milvus-datanode-0", {
            restarts: 1,
            terminated: { reason: "Error", exitCode: 134, finishedAt: new Date().toISOString() },
          }));
          // Dropped once the daemon has seen the restart, as a crash's core follows it.
          await waitFor(
            async () =>
              /agent_restart_events_total\{[^}]*\} 1/.test(
                await (await fetch(`${base}/metrics`)).text(),
              ),
            "the daemon to see the restart",
          );
          await Deno.copyFile(abort.core, `${dir}/in/core.777`);
          let cores: CoreRecord[] = [];
          // Stored, then the original removed: the last step for each core.
          await waitFor(async () => {
            cores = await (await fetch(`${base}/cores?state=stored`)).json();
            return cores.length === 2 && cores.every((c) => c.originalDeleted);
          }, "two stored cores with their originals removed");
          const byPod = Object.fromEntries(cores.map((c) => [c.pod, c]));
          const q = byPod["prod-milvus-querynode-0"]!;
          assertEquals(
            [q.namespace, q.container, q.instance, q.match?.method, q.match?.confidence],
            [
              "milvus",
              "main",
              "prod",
              "hostname",
              "high",
            ],
          );
          assert(q.storedUri!.startsWith(`file://${dir}/store/prod/`), q.storedUri!);
          const d = byPod["prod-milvus-datanode-0"]!;
          assertEquals([d.container, d.match?.method, d.match?.confidence], [
            "main",
            "restart-window",
            "medium",
          ]);
          assertEquals([...Deno.readDirSync(`${dir}/in`)], []);
          // The Event is recorded after the core is finished.
          let events: Json[] = [];
          await waitFor(() => {
            events = emu.list("events", "milvus").filter((e) => e.reason === "CoreDumped");
            return Promise.resolve(events.length === 2);
          }, "two CoreDumped Events");
          assertEquals(
            events.map((e) => (e.involvedObject as Json).name).sort(),
            ["prod-milvus-datanode-0", "prod-milvus-querynode-0"],
          );
          const qEvent = events.find((e) =>
            (e.involvedObject as Json).name === "prod-milvus-querynode-0"
          )!;
          assertEquals(qEvent.type, "Warning");
          assertStringIncludes(
            String(qEvent.message),
            "SIGSEGV (address not mapped) at 0x0, pc 0x",
          );
          assertStringIncludes(
            String(qEvent.message),
            `, stored as ${q.storedUri} (node node-1, matched by hostname)`,
          );
          if (haveCommand("kubectl")) {
            // What the SRE sees: the Event in `kubectl describe pod`.
            const describe = await new Deno.Command("kubectl", {
              args: [
                "--kubeconfig",
                `${dir}/kc`,
                "describe",
                "pod",
                "prod-milvus-querynode-0",
                "-n",
                "milvus",
              ],
              stdout: "piped",
              stderr: "piped",
            }).output();
            const text = new TextDecoder().decode(describe.stdout);
            assertEquals(describe.code, 0, new TextDecoder().decode(describe.stderr));
            assertMatch(text, /Warning\s+CoreDumped\s+.*agent\s+SIGSEGV \(address not mapped\)/);
          }
          const bad = await fetch(`${base}/cores?state=bogus`);
          assertEquals([bad.status, await bad.text()], [
            400,
            'invalid state "bogus": expected one of seen, analyzed, storing, stored, skipped, pruned, failed, quarantined\n',
          ]);
          await waitFor(
            () => Promise.resolve(!existsSync(`${dir}/store/${old.key}`)),
            "retention to remove the old core",
          );
          assertEquals(await (await fetch(`${base}/sandboxes`)).text(), `${"f".repeat(64)}\n`);
          const expected = [
            `kata_guest_meminfo{sandbox_id="${"f".repeat(64)}"`,
            'agent_pruned_cores_total{outcome="deleted"} 1',
            'agent_cores_total{outcome="stored"} 2',
            'agent_cores_indexed{state="stored"} 2',
            'agent_feature_up{feature="collector"} 1',
          ];
          let metrics = "";
          await waitFor(async () => {
            metrics = await (await fetch(`${base}/metrics`)).text();
            return expected.every((line) => metrics.includes(line));
          }, "the sandbox's metrics and the cores counted").catch((error) => {
            for (const line of expected) assertStringIncludes(metrics, line);
            throw error;
          });
        } finally {
          const stopping = Date.now();
          daemon.kill("SIGTERM");
          const status = await daemon.status;
          assert(Date.now() - stopping < 5000, "the daemon took over 5 s to stop");
          await shim.stop();
          const log = await stderr;
          await emu.close();
          assertEquals(status.code, 0, log);
          const lines = log.trim().split("\n").map((l) => JSON.parse(l) as Json);
          assertEquals(lines.filter((l) => l.msg === "core stored").length, 2, log);
        }
      })
    ),
});
