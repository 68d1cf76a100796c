/**
 * The agent's RBAC for real: `manifests/` applied by `kubectl` as an administrator on a real
 * API server (`--authorization-mode=RBAC`), then everything the agent does with the Kubernetes
 * API done with its own ServiceAccount's credentials: the daemon (restart watch, previous logs,
 * the cleaner's uninstall, a core's `CoreDumped` Event and its AI explanation added later, against
 * the model API emulator) on the static token, `agent discover` and `agent uninstall` on
 * a token from `kubectl create token`. The API server's audit log says which requests the agent
 * made: everything it needs is allowed, and its roles (the ClusterRole, and a Role named `agent`
 * if `manifests/` holds one) grant exactly that — a verb added without need, or removed while
 * needed, fails the test — while requests outside them are refused. A feature that calls a new
 * Kubernetes API runs here too, with the agent's credentials.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { startDaemon } from "./support/daemon.ts";
import { ModelApiEmulator } from "./support/model_api.ts";
import type { Json } from "./support/kube/_match.ts";
import { helmPod, installHelmRelease, milvusResource } from "./support/kube/fixtures.ts";
import { haveKubectl, kubectl } from "./support/kube/kubectl.ts";
import { realKubeUnavailable, startRealCluster } from "./support/kube_servers.ts";
import { AGENT_SERVICE_ACCOUNT, type RealKube } from "./support/kube_real/server.ts";
import { waitFor } from "./support/net.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { parseAllDocuments } from "yaml";
import type { MilvusInstance } from "../lib/kube/mod.ts";

const MANIFESTS = new URL("../manifests/", import.meta.url).pathname;
const ignore = skipNotice("kubectl", haveKubectl()) || skipNotice("gcc", haveGcc()) ||
  realKubeUnavailable() !== undefined;
const AI_KEY = "sk-rbac-emulated";

/** The daemon's whole configuration: cores from `dir/in`, AI on, the cluster through `kubeconfig`. */
function daemonConfig(dir: string, kubeconfig: string, ai: ModelApiEmulator): string {
  return `stateDir: ${dir}/state
collector: {paths: [${dir}/in], settleInterval: 200ms, rescanInterval: 1s}
storage: {local: {path: ${dir}/store}}
analyzer: {useGdb: false, valueThreshold: 5}
kata: {enabled: false}
node: {collectors: []}
discovery: {kubeconfig: ${kubeconfig}}
ai: {enabled: true, endpoint: "${ai.url}/v1", model: gpt-emulated, prices: ["gpt-emulated=2/8"]}
`;
}

/**
 * A Milvus Helm release as the chart renders it: one object of each namespaced kind the
 * ClusterRole lets the agent delete (so each delete rule is needed), with valid specs.
 */
function chartObjects(release: string, namespace: string): Json[] {
  const labels = {
    "app.kubernetes.io/name": "milvus",
    "app.kubernetes.io/instance": release,
    "helm.sh/chart": "milvus-4.2.45",
  };
  const meta = (kind: string) => ({ name: `${release}-milvus-${kind}`, namespace, labels });
  const selector = { matchLabels: { app: `${release}-milvus` } };
  const template = {
    metadata: { labels: { app: `${release}-milvus` } },
    spec: { containers: [{ name: "main", image: "milvusdb/milvus:v2.5.9" }] },
  };
  const rbac = "rbac.authorization.k8s.io/v1";
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("sa") },
    { apiVersion: "v1", kind: "Secret", metadata: meta("minio"), stringData: { key: "x" } },
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta("config"), data: { "a.yaml": "a: 1" } },
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: meta("data"),
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta("svc"),
      spec: { ports: [{ port: 19530 }] },
    },
    { apiVersion: rbac, kind: "Role", metadata: meta("role"), rules: [] },
    {
      apiVersion: rbac,
      kind: "RoleBinding",
      metadata: meta("rolebinding"),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${release}-role` },
      subjects: [{ kind: "ServiceAccount", name: `${release}-milvus-sa`, namespace }],
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta("proxy"),
      spec: { selector, template },
    },
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: meta("querynode"),
      spec: { selector, template },
    },
    {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: meta("ds"),
      spec: { selector, template },
    },
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: meta("rs"),
      spec: { selector, template },
    },
    {
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta("pdb"),
      spec: { selector, maxUnavailable: 1 },
    },
  ];
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/**
 * The grants of the agent's roles in `manifests/` (its ClusterRole, and any Role named `agent`)
 * as `verb group/resource`, one per verb: a verb granted twice is listed twice, and fails the
 * comparison with what the agent did.
 */
async function grants(): Promise<string[]> {
  const rules: Rule[] = [];
  for await (const entry of Deno.readDir(MANIFESTS)) {
    if (!entry.name.endsWith(".yaml")) continue;
    for (const document of parseAllDocuments(await Deno.readTextFile(MANIFESTS + entry.name))) {
      const object = document.toJS() as { kind?: string; metadata?: Json; rules?: Rule[] } | null;
      if (object?.kind !== "ClusterRole" && object?.kind !== "Role") continue;
      if (object.metadata?.name === "agent") rules.push(...(object.rules ?? []));
    }
  }
  return rules.flatMap((rule) =>
    rule.apiGroups.flatMap((group) =>
      rule.resources.flatMap((resource) => rule.verbs.map((verb) => `${verb} ${group}/${resource}`))
    )
  ).sort();
}

/** The agent's requests of the audit log as `verb group/resource`, refused or not. */
async function agentRequests(kube: RealKube): Promise<{ allowed: string[]; refused: string[] }> {
  const records = (await kube.audit(AGENT_SERVICE_ACCOUNT)).filter((r) => r.resource !== "");
  const distinct = (list: string[]) => [...new Set(list)].sort();
  return {
    allowed: distinct(records.filter((r) => r.code !== 403).map((r) => `${r.verb} ${r.resource}`)),
    refused: distinct(records.filter((r) => r.code === 403).map((r) => `${r.verb} ${r.resource}`)),
  };
}

/** The objects not being deleted (a PVC waits for a controller to drop its finalizer). */
async function names(kube: RealKube, plural: string, namespace?: string): Promise<string[]> {
  return (await kube.list(plural, namespace)).map((o) => o.metadata as Json)
    .filter((m) => !m.deletionTimestamp).map((m) => String(m.name)).sort();
}

Deno.test({
  name: "the agent's ClusterRole allows exactly what the agent does, as its ServiceAccount",
  ignore,
  fn: async () => {
    const { segv } = await sampleCores();
    const kube = await startRealCluster({ audit: true });
    const ai = await ModelApiEmulator.start({ key: AI_KEY });
    const dir = await Deno.makeTempDir({ prefix: "agent-rbac-" });
    try {
      const admin = await kube.writeKubeconfig(`${dir}/admin`);
      const applied = await kubectl(admin, ["apply", "-k", MANIFESTS]);
      assertEquals(applied.code, 0, applied.stderr);
      assertStringIncludes(applied.stdout, "clusterrolebinding.rbac.authorization.k8s.io/agent");

      // The cluster: two Helm releases (one with a cluster-scoped object), an operator instance.
      await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
      await installHelmRelease(kube, "prod", "milvus", 2, chartObjects("prod", "milvus"));
      await installHelmRelease(kube, "staging", "milvus", 1);
      await kube.put(helmPod("prod", "prod-milvus-querynode-0"));
      await kube.put(helmPod("prod", "prod-milvus-datanode-0"));
      await kube.put(milvusResource("vectors"));
      await kube.put({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "etcd-password", namespace: "milvus" },
        stringData: { password: "not for the agent" },
      });

      // The daemon on the ServiceAccount's static token: a core of prod, and a crash loop of
      // prod on this node.
      const agent = await kube.writeKubeconfig(`${dir}/agent`, "milvus", "agent");
      await Deno.mkdir(`${dir}/in`);
      await Deno.writeTextFile(`${dir}/agent.yaml`, daemonConfig(dir, agent, ai));
      const daemon = await startDaemon({
        dir,
        configFile: `${dir}/agent.yaml`,
        env: {
          NODE_NAME: "node-1",
          AGENT_AI_API_KEY: AI_KEY,
          AGENT_CLEANER_ENABLED: "true",
          AGENT_CLEANER_MAX_RESTART_COUNT: "2",
          AGENT_CLEANER_CLEANUP_DELAY: "1s",
        },
      });
      try {
        await waitFor(async () => (await fetch(`${daemon.base}/readyz`)).ok, "readiness", 60_000);
        // The explanation comes after the Event is recorded, so the daemon adds it by a patch.
        const answer = ai.hold();
        const time = Math.floor(Date.now() / 1000);
        await Deno.copyFile(
          segv.core,
          `${dir}/in/core.segv.4242.11.${time}.prod-milvus-querynode-0`,
        );
        const coreEvent = async () =>
          (await kube.list("events", "milvus")).find((e) => e.reason === "CoreDumped");
        await waitFor(
          async () => (await coreEvent()) !== undefined,
          "the CoreDumped Event",
          60_000,
        );
        answer();
        const refusedPatch = "cannot add the AI explanation to the CoreDumped event";
        await waitFor(
          async () =>
            String((await coreEvent())?.message).includes("AI (confidence") ||
            daemon.log().includes(refusedPatch),
          "the AI explanation in the CoreDumped Event",
          60_000,
        );
        assert(!daemon.log().includes(refusedPatch), refusedPatch);
        // Exit code 1 says nothing: the daemon reads the previous container's log.
        await kube.put(helmPod("prod", "prod-milvus-datanode-0", {
          restarts: 1,
          terminated: { reason: "Error", exitCode: 1, finishedAt: new Date().toISOString() },
        }));
        for (let count = 1; count <= 3; count++) {
          await kube.put(helmPod("prod", "prod-milvus-querynode-0", {
            restarts: count,
            terminated: { reason: "Error", exitCode: 139, finishedAt: new Date().toISOString() },
          }));
        }
        // The cleaner's first attempt succeeds, or fails (and would retry) on a refused request.
        await waitFor(
          () => Promise.resolve(/uninstalled an instance|uninstall failed/.test(daemon.log())),
          "the daemon's uninstall of prod",
          120_000,
        );
        assertStringIncludes(daemon.log(), "uninstalled an instance stuck in a crash loop");
        await waitFor(
          async () =>
            (await kube.list("events", "milvus")).some((e) => e.reason === "MilvusUninstalled"),
          "the daemon's MilvusUninstalled Event",
        );
      } finally {
        await daemon.stop();
      }
      assertEquals(await names(kube, "statefulsets", "milvus"), ["staging-milvus-querynode"]);
      assertEquals(await names(kube, "deployments", "milvus"), ["staging-milvus-proxy"]);
      assertEquals(await names(kube, "persistentvolumeclaims", "milvus"), ["staging-milvus-data"]);

      // The CLI on a token the TokenRequest API issued, as a pod's projected token is.
      const issued = await kubectl(admin, ["create", "token", "agent", "-n", "agent-system"]);
      assertEquals(issued.code, 0, issued.stderr);
      const bound = await kube.writeKubeconfig(`${dir}/bound`, "milvus", {
        token: issued.stdout.trim(),
      });
      const discovered = await runAgent(["discover", "-A", "-o", "json", "--kubeconfig", bound]);
      assertEquals(discovered.code, 0, discovered.stderr);
      assertEquals(json<MilvusInstance[]>(discovered).map((i) => [i.namespace, i.name]), [
        ["milvus", "prod"],
        ["milvus", "vectors"],
      ]);
      const operator = await runAgent([
        "uninstall",
        "vectors",
        "-n",
        "milvus",
        "--yes",
        "--kubeconfig",
        bound,
      ]);
      assertEquals(operator.code, 0, operator.stderr);
      // Deleting a cluster-scoped object is outside the role: the rest goes, that one stays.
      const helm = await runAgent([
        "uninstall",
        "staging",
        "-n",
        "milvus",
        "--yes",
        "--kubeconfig",
        bound,
      ]);
      assertEquals(helm.code, 3, helm.stdout);
      assertMatch(
        helm.stdout,
        /failed +rbac\.authorization\.k8s\.io\/v1 ClusterRole staging-milvus-reader: .*403/,
      );
      assertEquals(await names(kube, "milvuses", "milvus"), []);
      assertEquals(await names(kube, "statefulsets", "milvus"), []);
      assert(
        await kube.get("clusterroles", undefined, "staging-milvus-reader"),
        "the ClusterRole stays",
      );

      // Requests outside the role, refused: a Secret's value by name among them (the agent reads
      // only Helm's release records, by label).
      const refusals: [string, string][] = [
        ["DELETE", "/api/v1/namespaces/milvus"],
        ["GET", "/api/v1/namespaces/milvus/secrets/etcd-password"],
        ["GET", "/api/v1/namespaces/milvus/configmaps/staging-milvus"],
        ["GET", "/api/v1/nodes"],
        ["POST", "/api/v1/namespaces/milvus/pods"],
        ["PATCH", "/api/v1/namespaces/milvus/pods/prod-milvus-querynode-0"],
      ];
      for (const [method, path] of refusals) {
        const response = await kube.fetch(path, {
          method,
          ...(method === "GET" || method === "DELETE" ? {} : {
            body: "{}",
            headers: { "content-type": "application/merge-patch+json" },
          }),
        }, "agent");
        await response.body?.cancel();
        assertEquals(response.status, 403, `${method} ${path}`);
      }

      const { allowed, refused } = await agentRequests(kube);
      assertEquals(refused, [
        "create /pods",
        "delete /namespaces",
        "delete rbac.authorization.k8s.io/clusterroles",
        "get /configmaps",
        "get /secrets",
        "list /nodes",
        "patch /pods",
      ]);
      // Everything granted was needed, and everything needed was granted.
      assertEquals(allowed, await grants());
    } finally {
      await ai.stop();
      await kube.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
