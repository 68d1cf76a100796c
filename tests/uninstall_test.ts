/**
 * `agent uninstall` against each Kubernetes API server (the emulator, a real one when built):
 * Helm releases without the helm binary, operator instances, the plan-first contract and
 * releases side by side.
 */
import { assertEquals, assertMatch, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import type { Json } from "./support/kube/_match.ts";
import { helmPod, installHelmRelease, milvusResource } from "./support/kube/fixtures.ts";
import { type KubeCluster, kubeServers } from "./support/kube_servers.ts";

const servers = kubeServers();

async function withReleases(
  kube: KubeCluster,
  fn: (kube: KubeCluster, kubeconfig: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
    await installHelmRelease(kube, "prod");
    await installHelmRelease(kube, "staging");
    await kube.put(helmPod("prod", "prod-milvus-querynode-0"));
    await kube.put(helmPod("staging", "staging-milvus-querynode-0"));
    await kube.put(milvusResource("vectors"));
    await fn(kube, await kube.writeKubeconfig(`${dir}/kubeconfig`, "milvus"));
  });
}

/** Every object the tests create or the uninstall may touch, by kind. */
async function contents(kube: KubeCluster): Promise<Record<string, string[]>> {
  const plurals = ["services", "statefulsets", "deployments", "persistentvolumeclaims"];
  plurals.push("configmaps", "secrets", "pods", "milvuses", "events");
  const found: Record<string, string[]> = {};
  for (const plural of plurals) found[plural] = await names(kube, plural, "milvus");
  found.clusterroles = (await names(kube, "clusterroles")).filter((n) => n.includes("milvus"));
  return found;
}

async function names(kube: KubeCluster, plural: string, namespace?: string): Promise<string[]> {
  return (await kube.list(plural, namespace)).map((o) => String((o.metadata as Json).name)).sort();
}

servers.test("uninstall prints the Helm plan and deletes nothing without --yes", (kube) =>
  withReleases(kube, async (kube, kubeconfig) => {
    const before = await contents(kube);
    const requests = kube.emulator?.requests.length ?? 0;
    const run = await runAgent(["uninstall", "prod", "-n", "milvus", "--kubeconfig", kubeconfig]);
    assertEquals(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n");
    assertEquals(
      lines[0],
      "Plan to uninstall Helm release milvus/prod (revision 2, milvus-4.1.0, deployed):",
    );
    assertEquals(
      lines.slice(1, -2).map((l) => l.trim().split("   (")[0]),
      [
        "delete v1 Service milvus/prod-milvus",
        "delete apps/v1 StatefulSet milvus/prod-milvus-querynode",
        "delete apps/v1 Deployment milvus/prod-milvus-proxy",
        "delete rbac.authorization.k8s.io/v1 ClusterRole prod-milvus-reader",
        "keep   v1 PersistentVolumeClaim milvus/prod-milvus-data",
        "delete v1 ConfigMap milvus/prod-milvus",
        "delete v1 Secret milvus/sh.helm.release.v1.prod.v1",
        "delete v1 Secret milvus/sh.helm.release.v1.prod.v2",
      ],
    );
    assertEquals(lines.at(-2), "7 objects to delete, 1 kept.");
    assertEquals(lines.at(-1), "Nothing was deleted: run again with --yes to delete.");
    assertEquals(await contents(kube), before);
    const dry = await runAgent([
      "uninstall",
      "prod",
      "-n",
      "milvus",
      "--yes",
      "--dry-run",
      "--kubeconfig",
      kubeconfig,
    ]);
    assertStringIncludes(dry.stdout, "--dry-run: nothing was deleted.");
    assertEquals(await contents(kube), before);
    // The emulator also sees that no write was even attempted.
    const writes = kube.emulator?.requests.slice(requests).filter((r) => !r.startsWith("GET "));
    assertEquals(writes ?? [], []);
  }));

servers.test("uninstall --yes removes one Helm release and leaves the other alone", (kube) =>
  withReleases(kube, async (kube, kubeconfig) => {
    const run = await runAgent([
      "uninstall",
      "prod",
      "-n",
      "milvus",
      "--yes",
      "--reason",
      "crash loop",
      "--kubeconfig",
      kubeconfig,
    ]);
    assertEquals(run.code, 0, run.stderr);
    assertMatch(
      run.stdout,
      /^Uninstalled Helm release milvus\/prod \(revision 2, milvus-4\.1\.0, deployed\):\n/,
    );
    assertStringIncludes(
      run.stdout,
      "kept         v1 PersistentVolumeClaim milvus/prod-milvus-data",
    );
    assertEquals(await names(kube, "statefulsets"), ["staging-milvus-querynode"]);
    assertEquals(await names(kube, "deployments"), ["staging-milvus-proxy"]);
    assertEquals(await names(kube, "configmaps", "milvus"), ["staging-milvus"]);
    const clusterRoles = await names(kube, "clusterroles");
    assertEquals(clusterRoles.filter((n) => n.includes("milvus")), ["staging-milvus-reader"]);
    assertEquals(await names(kube, "persistentvolumeclaims"), [
      "prod-milvus-data",
      "staging-milvus-data",
    ]);
    assertEquals(await names(kube, "secrets"), [
      "sh.helm.release.v1.staging.v1",
      "sh.helm.release.v1.staging.v2",
    ]);
    // Pods are not in the manifest: their controllers' deletion takes them (garbage collection).
    assertEquals(await names(kube, "milvuses"), ["vectors"]);
    const events = await kube.list("events", "milvus");
    assertEquals(events.length, 1);
    assertEquals(events[0]!.reason, "MilvusUninstalled");
    assertEquals(
      events[0]!.message,
      "agent uninstalled Helm release prod (7 objects deleted): crash loop",
    );
    assertEquals((events[0]!.involvedObject as Json).name, "sh.helm.release.v1.prod.v2");
    const again = await runAgent([
      "uninstall",
      "prod",
      "-n",
      "milvus",
      "--yes",
      "--kubeconfig",
      kubeconfig,
    ]);
    assertEquals(again.code, 2);
    assertEquals(
      again.stderr,
      'No Milvus instance "prod" in namespace "milvus": no Helm release and no Milvus resource by that name\n',
    );
  }));

servers.test("uninstall removes an operator instance's Milvus resource", (kube) =>
  withReleases(kube, async (kube, kubeconfig) => {
    const run = await runAgent([
      "uninstall",
      "vectors",
      "-n",
      "milvus",
      "--yes",
      "-o",
      "json",
      "--kubeconfig",
      kubeconfig,
    ]);
    assertEquals(run.code, 0, run.stderr);
    const out = json<{ applied: boolean; results: { kind: string; outcome: string }[] }>(run);
    assertEquals(out.applied, true);
    assertEquals(out.results.map((r) => [r.kind, r.outcome]), [["Milvus", "deleted"]]);
    assertEquals(await names(kube, "milvuses"), []);
    assertEquals((await names(kube, "statefulsets")).length, 2);
  }));

servers.test("uninstall asks for --type when a release and a resource share a name", (kube) =>
  withReleases(kube, async (kube, kubeconfig) => {
    await kube.put(milvusResource("prod"));
    const run = await runAgent(["uninstall", "prod", "-n", "milvus", "--kubeconfig", kubeconfig]);
    assertEquals(run.code, 2);
    assertStringIncludes(run.stderr, "pass --type helm or --type operator");
    const operator = await runAgent([
      "uninstall",
      "prod",
      "-n",
      "milvus",
      "--type",
      "operator",
      "--kubeconfig",
      kubeconfig,
    ]);
    assertStringIncludes(
      operator.stdout,
      "Plan to uninstall Milvus milvus/prod (milvus-operator):",
    );
  }));

Deno.test("uninstall needs a namespace", async () => {
  const run = await runAgent(["uninstall", "prod"]);
  assertEquals([run.code, run.stderr], [
    2,
    'Missing flag --namespace (see "agent uninstall --help")\n',
  ]);
});

servers.test("uninstall runs the helm binary when cleaner.helmBinary is set", (kube) =>
  withReleases(kube, async (kube, kubeconfig) => {
    await withTempDir(async (dir) => {
      const helm = `${dir}/helm`;
      await Deno.writeTextFile(helm, `#!/bin/sh\necho "$@" > ${dir}/args\n`, { mode: 0o755 });
      const run = await runAgent([
        "uninstall",
        "prod",
        "-n",
        "milvus",
        "--yes",
        "--kubeconfig",
        kubeconfig,
      ], {
        env: { AGENT_CLEANER_HELM_BINARY: helm, AGENT_CLEANER_UNINSTALL_TIMEOUT: "2m" },
      });
      assertEquals(run.code, 0, run.stderr);
      assertEquals(
        await Deno.readTextFile(`${dir}/args`),
        `uninstall prod --namespace milvus --wait --timeout 120s --kubeconfig ${kubeconfig}\n`,
      );
      // The stand-in deleted nothing; the agent left the objects to helm.
      assertEquals((await names(kube, "statefulsets")).length, 2);
      assertEquals((await kube.list("events", "milvus")).length, 1);
      await Deno.writeTextFile(
        helm,
        "#!/bin/sh\necho 'Error: uninstall: Release not loaded: prod' >&2\nexit 1\n",
      );
      const failed = await runAgent([
        "uninstall",
        "prod",
        "-n",
        "milvus",
        "--yes",
        "--kubeconfig",
        kubeconfig,
      ], {
        env: { AGENT_CLEANER_HELM_BINARY: helm },
      });
      assertEquals(failed.code, 3);
      assertStringIncludes(
        failed.stdout,
        "failed       v1 Service milvus/prod-milvus: helm uninstall: Error: uninstall: Release not loaded: prod",
      );
      const missing = await runAgent([
        "uninstall",
        "prod",
        "-n",
        "milvus",
        "--yes",
        "--kubeconfig",
        kubeconfig,
      ], {
        env: { AGENT_CLEANER_HELM_BINARY: `${dir}/no-helm` },
      });
      assertEquals(missing.code, 3);
      assertStringIncludes(missing.stderr, `Cannot run helm "${dir}/no-helm"`);
    });
  }));
