/**
 * `agent discover` against each Kubernetes API server (the emulator, a real one when built).
 */
import { assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { helmPod, makeTls, milvusResource, operatorPod, pod } from "./support/kube/fixtures.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { emulatorCluster, type KubeCluster, kubeServers } from "./support/kube_servers.ts";
import type { MilvusInstance } from "../lib/kube/mod.ts";

const servers = kubeServers();

async function withMilvusCluster(
  kube: KubeCluster,
  fn: (kube: KubeCluster, kubeconfig: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    for (const ns of ["milvus", "search"]) {
      await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
    }
    await kube.put(helmPod("prod", "prod-milvus-querynode-0", {
      component: "querynode",
      restarts: 4,
      terminated: { reason: "Error", exitCode: 139, finishedAt: "2026-11-22T01:00:00Z" },
    }));
    await kube.put(helmPod("prod", "prod-milvus-datanode-0", {
      component: "datanode",
      restarts: 1,
      terminated: { reason: "OOMKilled", exitCode: 137, finishedAt: "2026-11-22T00:30:00Z" },
    }));
    await kube.put(helmPod("prod", "prod-milvus-proxy-0", { component: "proxy", ready: false }));
    await kube.put(
      operatorPod("vectors", "vectors-milvus-standalone-0", {
        namespace: "search",
        component: "standalone",
      }),
    );
    await kube.put(milvusResource("vectors", "search"));
    await kube.put(milvusResource("empty", "search", "Pending"));
    await kube.put(pod("etcd-0", { app: "etcd" }));
    await kube.put(
      helmPod("other", "other-0", { extraLabels: { "helm.sh/chart": "not-milvus-1.0" } }),
    );
    await fn(kube, await kube.writeKubeconfig(`${dir}/kubeconfig`, "milvus"));
  });
}

servers.test("discover -A -o json groups pods into Helm and operator instances", (kube) =>
  withMilvusCluster(kube, async (_kube, kubeconfig) => {
    const run = await runAgent(["discover", "-A", "-o", "json", "--kubeconfig", kubeconfig]);
    assertEquals(run.code, 0, run.stderr);
    const instances = json<MilvusInstance[]>(run);
    assertEquals(
      instances.map((i) => [i.namespace, i.name, i.type, i.pods.length, i.restarts, i.status]),
      [
        ["milvus", "prod", "helm", 3, 5, null],
        ["search", "empty", "operator", 0, 0, "Pending"],
        ["search", "vectors", "operator", 1, 0, "Healthy"],
      ],
    );
    const prod = instances[0]!;
    assertEquals(prod.pods.map((p) => [p.name, p.component, p.node, p.ready, p.restarts]), [
      ["prod-milvus-datanode-0", "datanode", "node-1", true, 1],
      ["prod-milvus-proxy-0", "proxy", "node-1", false, 0],
      ["prod-milvus-querynode-0", "querynode", "node-1", true, 4],
    ]);
    assertEquals(prod.lastTermination, {
      pod: "prod-milvus-querynode-0",
      container: "main",
      reason: "Error",
      exitCode: 139,
      signal: 11,
      finishedAt: "2026-11-22T01:00:00Z",
      message: null,
    });
  }));

servers.test("discover uses the context's namespace by default and prints a table", (kube) =>
  withMilvusCluster(kube, async (_kube, kubeconfig) => {
    const run = await runAgent(["discover", "--kubeconfig", kubeconfig]);
    assertEquals(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assertMatch(lines[0]!, /^NAMESPACE +NAME +TYPE +READY +RESTARTS +STATUS +LAST TERMINATION$/);
    assertEquals(lines.length, 2);
    assertMatch(
      lines[1]!,
      /^milvus +prod +helm +2\/3 +5 +- +prod-milvus-querynode-0\/main: Error, exit 139 \(SIGSEGV\) at 2026-11-22T01:00:00Z$/,
    );
    const other = await runAgent([
      "discover",
      "milvus",
      "-n",
      "search",
      "-o",
      "yaml",
      "--kubeconfig",
      kubeconfig,
    ]);
    assertEquals(other.code, 0, other.stderr);
    assertMatch(other.stdout, /^- name: empty\n {2}namespace: search\n {2}type: operator\n/);
  }));

servers.test("discover reads KUBECONFIG and --context like kubectl", (kube) =>
  withMilvusCluster(kube, async (_kube, kubeconfig) => {
    const viaEnv = await runAgent(["discover", "-n", "search", "-o", "json"], {
      env: { KUBECONFIG: kubeconfig },
    });
    assertEquals(json<MilvusInstance[]>(viaEnv).map((i) => i.name), ["empty", "vectors"]);
    const badContext = await runAgent([
      "discover",
      "--kubeconfig",
      kubeconfig,
      "--context",
      "nope",
    ]);
    assertEquals([badContext.code, badContext.stderr], [
      2,
      `Kubeconfig ${kubeconfig} has no context "nope"\n`,
    ]);
  }));

Deno.test("discover exits 3 with one line when the cluster is unreachable", async () => {
  const emu = await KubeEmulator.start();
  try {
    await withMilvusCluster(
      emulatorCluster(emu),
      (_kube, kubeconfig) => unreachable(emu, kubeconfig),
    );
  } finally {
    await emu.close();
  }
});

async function unreachable(emu: KubeEmulator, kubeconfig: string): Promise<void> {
  await emu.stop();
  const run = await runAgent(["discover", "--kubeconfig", kubeconfig]);
  assertEquals(run.code, 3);
  assertEquals(run.stderr, `Cannot reach the Kubernetes API at ${emu.url}: connection refused\n`);
  await emu.restart();
  emu.failNext(1, { path: "/api/v1/namespaces/milvus/pods" });
  const failing = await runAgent(["discover", "--kubeconfig", kubeconfig]);
  assertEquals(failing.code, 3);
  assertMatch(
    failing.stderr,
    /^Kubernetes API GET \/api\/v1\/namespaces\/milvus\/pods: 500 injected failure\n$/,
  );
}

Deno.test("discover without any Kubernetes configuration exits 3", async () => {
  await withTempDir(async (home) => {
    const run = await runAgent(["discover"], { env: { HOME: home, KUBECONFIG: "" } });
    assertEquals(run.code, 3);
    assertEquals(
      run.stderr,
      "No Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod\n",
    );
  });
});

Deno.test("discover rejects --namespace with --all-namespaces", async () => {
  const run = await runAgent(["discover", "-n", "a", "-A"]);
  assertEquals([run.code, run.stderr], [
    2,
    "Give either --namespace or --all-namespaces, not both\n",
  ]);
});

Deno.test({
  name: "discover reaches an HTTPS API server through the kubeconfig's certificate authority",
  ignore: skipNotice("openssl", haveCommand("openssl")),
  fn: () =>
    withTempDir(async (dir) => {
      const emu = await KubeEmulator.start({ tls: await makeTls(dir) });
      try {
        emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
        emu.put(helmPod("prod", "prod-milvus-querynode-0"));
        const kubeconfig = await emu.writeKubeconfig(`${dir}/kubeconfig`, "milvus");
        const run = await runAgent(["discover", "-o", "json", "--kubeconfig", kubeconfig]);
        assertEquals(run.code, 0, run.stderr);
        assertEquals(json<MilvusInstance[]>(run).map((i) => i.name), ["prod"]);
        const text = await Deno.readTextFile(kubeconfig);
        await Deno.writeTextFile(
          kubeconfig,
          text.replace(/ {4}certificate-authority-data: .*\n/, ""),
        );
        const untrusted = await runAgent(["discover", "--kubeconfig", kubeconfig]);
        assertEquals(untrusted.code, 3);
        assertMatch(
          untrusted.stderr,
          new RegExp(`^Cannot reach the Kubernetes API at ${emu.url}: TLS error \\(.*\\)\\n$`),
        );
      } finally {
        await emu.close();
      }
    }),
});
