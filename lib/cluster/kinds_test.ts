import { assert, assertEquals } from "../../tests/support/assert.ts";
import { clusterObjects } from "../../tests/support/kube/cluster_fixtures.ts";
import type { Json } from "../../tests/support/kube/_match.ts";
import type { KubeObject } from "../kube/mod.ts";
import { dropValues, findKind, reduceObject, WATCHED_KINDS } from "./kinds.ts";
import type { Resource } from "./resource.ts";

const CANARY = "canary-7f3a9c1e-value";

function reduced(kind: string, object: Json): Resource {
  const k = findKind(kind)!;
  // Decoded as the informer decodes an answer: through the kind's reviver.
  const decoded = JSON.parse(JSON.stringify(object), k.reviver) as KubeObject;
  return reduceObject(k, decoded);
}

function byKind(kind: string): Json[] {
  return clusterObjects(CANARY).filter((o) => o.kind === kind);
}

Deno.test("WATCHED_KINDS lists the sixteen kinds, ConfigMaps and Secrets decoded without values", () => {
  assertEquals(WATCHED_KINDS.length, 16);
  assertEquals(
    WATCHED_KINDS.filter((k) => k.reviver).map((k) => k.kind),
    ["ConfigMap", "Secret"],
  );
});

Deno.test("dropValues() replaces data with its key names while decoding", () => {
  const text = JSON.stringify({
    type: "ADDED",
    object: {
      metadata: {
        name: "db",
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": `{"data":{"p":"${CANARY}"}}`,
          "meta.helm.sh/release-name": "shop",
        },
        managedFields: [{ manager: "kubectl" }],
      },
      data: { password: btoa(CANARY), user: "dXNlcg==" },
      binaryData: { blob: btoa(CANARY) },
      stringData: { token: CANARY },
    },
  });
  const event = JSON.parse(text, dropValues);
  assertEquals(event.object.data, ["password", "user"]);
  assertEquals(event.object.binaryData, ["blob"]);
  assertEquals(event.object.stringData, ["token"]);
  assertEquals(event.object.metadata.annotations, { "meta.helm.sh/release-name": "shop" });
  assertEquals(event.object.metadata.managedFields, undefined);
  assert(!JSON.stringify(event).includes(CANARY));
});

Deno.test("reduceObject() keeps a Secret's type and key names, never its values", () => {
  const secret = reduced("Secret", byKind("Secret")[0]!);
  assertEquals(secret.keys, ["password", "username"]);
  assertEquals(secret.type, "Opaque");
  assertEquals(secret.metadata.annotations, undefined);
  const text = JSON.stringify(secret);
  assert(!text.includes(CANARY) && !text.includes(btoa(CANARY)), text);
  const cm = reduced("cm", byKind("ConfigMap")[0]!);
  assertEquals(cm.keys, ["LOG_FORMAT", "settings.yaml"]);
  assert(!JSON.stringify(cm).includes(CANARY));
  // Even values that reached the reducer (no reviver) leave only their names.
  const raw = reduceObject(findKind("Secret")!, byKind("Secret")[0]! as KubeObject);
  assertEquals(raw.keys, ["password", "username"]);
  assert(!JSON.stringify(raw).includes(CANARY));
});

Deno.test("reduceObject() keeps a pod's node, containers, references and status", () => {
  const pod = reduced("Pod", byKind("Pod")[0]!);
  assertEquals(pod.kind, "Pod");
  assertEquals(pod.metadata.namespace, "shop");
  assertEquals(pod.metadata.ownerReferences?.[0]?.kind, "ReplicaSet");
  assertEquals(pod.spec, {
    nodeName: "node-1",
    serviceAccountName: "default",
    containers: [{
      name: "web",
      image: "registry.example.com/shop/web:1.4.2",
      ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
    }],
    configMaps: ["web-config"],
    secrets: ["web-db"],
    persistentVolumeClaims: ["web-data"],
  });
  assertEquals(pod.status?.phase, "Running");
  assertEquals((pod.status?.containerStatuses as Json[])[0]!.restartCount, 0);
  assertEquals((pod.status?.containerStatuses as Json[])[0]!.state, "running");
  // Environment values and managed fields are not kept.
  assert(!JSON.stringify(pod).includes("LOG_LEVEL"));
  assert(!JSON.stringify(pod).includes("managedFields"));
});

Deno.test("reduceObject() keeps what a platform needs of every kind", () => {
  const service = reduced("svc", byKind("Service")[0]!);
  assertEquals(service.spec?.selector, { app: "web" });
  assertEquals(service.spec?.ports, [{
    name: "http",
    protocol: "TCP",
    port: 80,
    targetPort: 8080,
  }]);
  const deployment = reduced("deploy", byKind("Deployment")[0]!);
  assertEquals(deployment.spec?.replicas, 2);
  assertEquals(deployment.status?.readyReplicas, 2);
  assertEquals(deployment.metadata.annotations, { "deployment.kubernetes.io/revision": "3" });
  const node = reduced("Node", byKind("Node")[0]!);
  assertEquals(node.metadata.namespace, undefined);
  assertEquals(node.spec?.providerID, "kind://docker/kind/node-1");
  assertEquals(node.status?.ready, "True");
  assertEquals((node.status?.nodeInfo as Json).kubeletVersion, "v1.30.0");
  const ingress = reduced("ing", byKind("Ingress")[0]!);
  assertEquals((ingress.spec?.rules as Json[])[0]!.paths, [{
    path: "/",
    pathType: "Prefix",
    backend: { name: "web", port: 80 },
  }]);
  const pvc = reduced("pvc", byKind("PersistentVolumeClaim")[0]!);
  assertEquals(pvc.spec?.volumeName, "pvc-web-shop");
  const pv = reduced("pv", byKind("PersistentVolume")[0]!);
  assertEquals(pv.spec?.claimRef, { namespace: "shop", name: "web-data" });
  const cronjob = reduced("CronJob", byKind("CronJob")[0]!);
  assertEquals(cronjob.spec?.schedule, "0 3 * * *");
  const job = reduced("Job", byKind("Job")[0]!);
  assertEquals(job.status?.succeeded, 1);
  const policy = reduced("netpol", byKind("NetworkPolicy")[0]!);
  assertEquals(policy.spec?.podSelector, { matchLabels: { app: "web" } });
});

Deno.test("reduceObject() survives objects of the wrong shape", () => {
  for (const kind of WATCHED_KINDS) {
    for (const bad of [{}, { metadata: "x", spec: [], status: 7 }, { spec: { containers: "x" } }]) {
      const resource = reduceObject(kind, bad as KubeObject);
      assertEquals(resource.kind, kind.kind);
      assertEquals(resource.metadata.name, "");
    }
  }
});

Deno.test("findKind() knows kinds by name, plural and short name", () => {
  assertEquals(findKind("pods")?.kind, "Pod");
  assertEquals(findKind("Deployment")?.kind, "Deployment");
  assertEquals(findKind("pvc")?.kind, "PersistentVolumeClaim");
  assertEquals(findKind("lease"), undefined);
});
