/**
 * `agent graph` against the Kubernetes API emulator holding a small cluster of every watched
 * kind, whose Secret and ConfigMap hold a canary value; the real kubectl checks that the
 * emulator serves those kinds.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { clusterObjects } from "./support/kube/cluster_fixtures.ts";
import type { Relation, Resource } from "../lib/cluster/mod.ts";

const CANARY = "canary-graph-5d1e0b7a";
const noKubectl = skipNotice("kubectl", haveCommand("kubectl"));

async function withShop(fn: (kubeconfig: string, dir: string) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const emu = await KubeEmulator.start();
    try {
      for (const object of clusterObjects(CANARY)) emu.put(object);
      await fn(await emu.writeKubeconfig(`${dir}/kubeconfig`, "shop"), dir);
    } finally {
      await emu.close();
    }
  });
}

Deno.test("agent graph deploy/NAME prints what is connected to it", () =>
  withShop(async (kubeconfig) => {
    const run = await runAgent(["graph", "deploy/web", "--kubeconfig", kubeconfig]);
    assertEquals(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assertEquals(lines[0]!.split(/\s+/), ["SUBJECT", "RELATION", "OBJECT"]);
    for (
      const want of [
        /ReplicaSet\/shop\/web-7d9f8b6c5 +owned-by +Deployment\/shop\/web/,
        /Pod\/shop\/web-7d9f8b6c5-xxxx0 +runs-on +Node\/node-1/,
        /Service\/shop\/web +selects +Pod\/shop\/web-7d9f8b6c5-xxxx1/,
        /Pod\/shop\/web-7d9f8b6c5-xxxx0 +uses +Secret\/shop\/web-db/,
        /Pod\/shop\/web-7d9f8b6c5-xxxx0 +mounts +PersistentVolumeClaim\/shop\/web-data/,
      ]
    ) {
      assert(lines.some((l) => want.test(l)), `${want} not in\n${run.stdout}`);
    }
    assert(!run.stdout.includes("api-"), run.stdout);
  }));

Deno.test("agent graph -o json carries resources without Secret or ConfigMap values", () =>
  withShop(async (kubeconfig) => {
    const run = await runAgent(["graph", "-A", "-o", "json", "--kubeconfig", kubeconfig]);
    assertEquals(run.code, 0, run.stderr);
    assert(!run.stdout.includes(CANARY) && !run.stdout.includes(btoa(CANARY)), "canary leaked");
    const out = json<{ resources: Resource[]; relationships: Relation[] }>(run);
    const secret = out.resources.find((r) => r.kind === "Secret" && r.metadata.name === "web-db");
    assertEquals(secret?.keys, ["password", "username"]);
    const kinds = new Set(out.resources.map((r) => r.kind));
    assertEquals(kinds.size, 16);
    assert(
      out.relationships.some((r) =>
        r.subject === "PersistentVolumeClaim/shop/api-data" && r.predicate === "bound-to"
      ),
    );
  }));

Deno.test("agent graph -o dot writes a Graphviz digraph", () =>
  withShop(async (kubeconfig) => {
    const run = await runAgent(["graph", "ing/web", "-o", "dot", "--kubeconfig", kubeconfig]);
    assertEquals(run.code, 0, run.stderr);
    assert(run.stdout.startsWith("digraph cluster {"), run.stdout);
    assertStringIncludes(
      run.stdout,
      `"Ingress/shop/web" -> "Service/shop/web" [label="routes-to"];`,
    );
  }));

Deno.test("agent graph node/NAME finds the node's pods in every namespace", () =>
  withShop(async (kubeconfig) => {
    const run = await runAgent([
      "graph",
      "node/node-2",
      "--depth",
      "1",
      "--kubeconfig",
      kubeconfig,
    ]);
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(run.stdout, "Pod/shop/api-7d9f8b6c5-xxxx0");
    assert(!run.stdout.includes("web-"), run.stdout);
  }));

Deno.test("agent graph rejects what it cannot answer with one line", () =>
  withShop(async (kubeconfig, dir) => {
    const missing = await runAgent(["graph", "deploy/nope", "--kubeconfig", kubeconfig]);
    assertEquals([missing.code, missing.stderr], [
      2,
      'Deployment "nope" not found in namespace "shop"\n',
    ]);
    const kind = await runAgent(["graph", "lease/x", "--kubeconfig", kubeconfig]);
    assertEquals(kind.code, 2);
    assertStringIncludes(kind.stderr, 'Invalid resource "lease/x"');
    const depth = await runAgent(["graph", "--depth", "0", "--kubeconfig", kubeconfig]);
    assertEquals(depth.code, 2);
    await Deno.writeTextFile(
      `${dir}/gone`,
      (await Deno.readTextFile(kubeconfig)).replace(/127\.0\.0\.1:\d+/, "127.0.0.1:1"),
    );
    const gone = await runAgent(["graph", "--kubeconfig", `${dir}/gone`]);
    assertEquals(gone.code, 3);
    assertStringIncludes(gone.stderr, "Cannot reach the Kubernetes API");
  }));

Deno.test({
  name: "kubectl lists the emulator's jobs, cronjobs, ingresses, network policies and volumes",
  ignore: noKubectl,
  fn: () =>
    withShop(async (kubeconfig, dir) => {
      const out = await new Deno.Command("kubectl", {
        args: [
          "--kubeconfig",
          kubeconfig,
          "get",
          "jobs,cronjobs,ingresses,networkpolicies,pv",
          "-A",
          "-o",
          "name",
        ],
        env: { HOME: dir },
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
      for (
        const name of [
          "job.batch/web-report-29000000",
          "cronjob.batch/web-report",
          "ingress.networking.k8s.io/web",
          "networkpolicy.networking.k8s.io/web-ingress",
          "persistentvolume/pvc-web-shop",
        ]
      ) {
        assertStringIncludes(text, name);
      }
    }),
});
