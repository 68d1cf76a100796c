/**
 * A small realistic cluster for the resource graph: objects of every watched kind, shaped
 * as a real API server returns them (managed fields, `last-applied-configuration`, pod
 * templates, environment), wired together the usual way: a Deployment owning a ReplicaSet
 * owning pods on a node, a Service selecting them, an Ingress routing to it, a claim bound to
 * a volume, a ConfigMap and a Secret the pods use. {@linkcode clusterObjects} returns them;
 * {@linkcode appObjects} one application of it, for benchmarks that need many.
 *
 * @module
 */
import type { Json } from "./_match.ts";

/** Options of {@linkcode appObjects}. */
export interface AppOptions {
  namespace: string;
  app: string;
  node: string;
  replicas?: number;
  /** The value the app's Secret and ConfigMap hold (a canary, in security tests). */
  secretValue?: string;
  /** A stable uid prefix for the owner references (the emulator assigns its own uids). */
  uidPrefix?: string;
}

const CREATED = "2026-11-20T08:00:00Z";

function managedFields(manager: string): Json[] {
  return [{
    manager,
    operation: "Update",
    apiVersion: "v1",
    time: CREATED,
    fieldsType: "FieldsV1",
    fieldsV1: { "f:metadata": { "f:labels": { ".": {}, "f:app": {} } }, "f:spec": {} },
  }];
}

/** A Node with a provider, topology labels and node info. */
export function nodeObject(name: string, providerID = `kind://docker/kind/${name}`): Json {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/region": "eu-west-1",
        "topology.kubernetes.io/zone": "eu-west-1a",
        "node.kubernetes.io/instance-type": "m5.large",
      },
      annotations: { "node.alpha.kubernetes.io/ttl": "0" },
      managedFields: managedFields("kubelet"),
    },
    spec: { providerID, podCIDR: "10.244.0.0/24" },
    status: {
      capacity: { cpu: "2", memory: "8029264Ki", pods: "110", "ephemeral-storage": "100Gi" },
      allocatable: { cpu: "2", memory: "7926864Ki", pods: "110" },
      conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }],
      addresses: [{ type: "InternalIP", address: "172.18.0.2" }, {
        type: "Hostname",
        address: name,
      }],
      nodeInfo: {
        kubeletVersion: "v1.30.0",
        containerRuntimeVersion: "containerd://1.7.13",
        osImage: "Debian GNU/Linux 12 (bookworm)",
        kernelVersion: "6.1.0-18-amd64",
        architecture: "amd64",
        operatingSystem: "linux",
        machineID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
      },
      images: [{ names: ["docker.io/library/nginx:1.25"], sizeBytes: 70_000_000 }],
    },
  };
}

/**
 * One application in `namespace`: Deployment, ReplicaSet, `replicas` pods on `node`,
 * Service, Ingress, ConfigMap, Secret, PVC and PV, a CronJob with its Job, a NetworkPolicy.
 */
export function appObjects(options: AppOptions): Json[] {
  const { namespace, app, node } = options;
  const replicas = options.replicas ?? 2;
  const secretValue = options.secretValue ?? "c2VjcmV0LXZhbHVl";
  const uid = (what: string) => `${options.uidPrefix ?? "00000000"}-${app}-${what}`;
  const labels = { app, "app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "shop" };
  const rsName = `${app}-7d9f8b6c5`;
  const applied = (kind: string, body: Json) =>
    JSON.stringify({ apiVersion: "v1", kind, metadata: { name: app, namespace }, ...body });
  const podSpec: Json = {
    serviceAccountName: "default",
    containers: [{
      name: app,
      image: `registry.example.com/shop/${app}:1.4.2`,
      ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
      env: [
        { name: "LOG_LEVEL", value: "info" },
        {
          name: "DB_PASSWORD",
          valueFrom: { secretKeyRef: { name: `${app}-db`, key: "password" } },
        },
      ],
      envFrom: [{ configMapRef: { name: `${app}-config` } }],
      resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
      volumeMounts: [{ name: "data", mountPath: "/data" }],
      livenessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 10 },
    }],
    volumes: [
      { name: "data", persistentVolumeClaim: { claimName: `${app}-data` } },
      { name: "config", configMap: { name: `${app}-config` } },
    ],
  };
  const objects: Json[] = [
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: app,
        namespace,
        uid: uid("deploy"),
        labels,
        annotations: {
          "deployment.kubernetes.io/revision": "3",
          "kubectl.kubernetes.io/last-applied-configuration": applied("Deployment", {}),
        },
        managedFields: managedFields("kubectl-client-side-apply"),
      },
      spec: {
        replicas,
        selector: { matchLabels: { app } },
        strategy: { type: "RollingUpdate" },
        template: { metadata: { labels }, spec: podSpec },
      },
      status: {
        replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
        updatedReplicas: replicas,
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      metadata: {
        name: rsName,
        namespace,
        uid: uid("rs"),
        labels: { ...labels, "pod-template-hash": "7d9f8b6c5" },
        ownerReferences: [{
          apiVersion: "apps/v1",
          kind: "Deployment",
          name: app,
          uid: uid("deploy"),
          controller: true,
          blockOwnerDeletion: true,
        }],
        managedFields: managedFields("kube-controller-manager"),
      },
      spec: {
        replicas,
        selector: { matchLabels: { app } },
        template: { metadata: { labels }, spec: podSpec },
      },
      status: { replicas, readyReplicas: replicas, availableReplicas: replicas },
    },
  ];
  for (let i = 0; i < replicas; i++) {
    objects.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${rsName}-${String(i).padStart(5, "x")}`,
        namespace,
        labels: { ...labels, "pod-template-hash": "7d9f8b6c5" },
        ownerReferences: [{
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: rsName,
          uid: uid("rs"),
          controller: true,
          blockOwnerDeletion: true,
        }],
        managedFields: managedFields("kubelet"),
      },
      spec: { ...podSpec, nodeName: node },
      status: {
        phase: "Running",
        podIP: `10.244.0.${10 + i}`,
        hostIP: "172.18.0.2",
        qosClass: "Burstable",
        startTime: CREATED,
        conditions: [{ type: "Ready", status: "True" }],
        containerStatuses: [{
          name: app,
          image: `registry.example.com/shop/${app}:1.4.2`,
          imageID: `registry.example.com/shop/${app}@sha256:${"ab".repeat(32)}`,
          ready: true,
          restartCount: i,
          state: { running: { startedAt: CREATED } },
        }],
      },
    });
  }
  objects.push(
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: app, namespace, labels, managedFields: managedFields("kubectl") },
      spec: {
        type: "ClusterIP",
        clusterIP: "10.96.0.20",
        selector: { app },
        ports: [{ name: "http", port: 80, targetPort: 8080, protocol: "TCP" }],
      },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: app, namespace, labels },
      spec: {
        ingressClassName: "nginx",
        rules: [{
          host: `${app}.shop.example.com`,
          http: {
            paths: [{
              path: "/",
              pathType: "Prefix",
              backend: { service: { name: app, port: { number: 80 } } },
            }],
          },
        }],
        tls: [{ hosts: [`${app}.shop.example.com`], secretName: `${app}-tls` }],
      },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: `${app}-config`,
        namespace,
        labels,
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": applied("ConfigMap", {
            data: { "settings.yaml": `token: ${secretValue}\n` },
          }),
        },
      },
      data: { "settings.yaml": `token: ${secretValue}\n`, "LOG_FORMAT": "json" },
    },
    {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: `${app}-db`,
        namespace,
        labels,
        annotations: {
          "kubectl.kubernetes.io/last-applied-configuration": applied("Secret", {
            stringData: { password: secretValue },
          }),
        },
      },
      type: "Opaque",
      data: { password: btoa(secretValue), username: btoa("shop") },
    },
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: `${app}-data`, namespace, labels },
      spec: {
        accessModes: ["ReadWriteOnce"],
        storageClassName: "standard",
        volumeName: `pvc-${app}-${namespace}`,
        resources: { requests: { storage: "1Gi" } },
      },
      status: { phase: "Bound", capacity: { storage: "1Gi" } },
    },
    {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: {
        name: `pvc-${app}-${namespace}`,
        annotations: { "pv.kubernetes.io/provisioned-by": "rancher.io/local-path" },
      },
      spec: {
        capacity: { storage: "1Gi" },
        accessModes: ["ReadWriteOnce"],
        storageClassName: "standard",
        persistentVolumeReclaimPolicy: "Delete",
        claimRef: { kind: "PersistentVolumeClaim", namespace, name: `${app}-data` },
        hostPath: { path: `/var/local-path-provisioner/${app}` },
      },
      status: { phase: "Bound" },
    },
    {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: `${app}-report`, namespace, uid: uid("cj"), labels },
      spec: {
        schedule: "0 3 * * *",
        concurrencyPolicy: "Forbid",
        jobTemplate: { spec: { template: { spec: podSpec } } },
      },
      status: { lastScheduleTime: CREATED },
    },
    {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        name: `${app}-report-29000000`,
        namespace,
        labels,
        ownerReferences: [{
          apiVersion: "batch/v1",
          kind: "CronJob",
          name: `${app}-report`,
          uid: uid("cj"),
          controller: true,
        }],
      },
      spec: { completions: 1, parallelism: 1, backoffLimit: 6, template: { spec: podSpec } },
      status: { succeeded: 1, startTime: CREATED, completionTime: CREATED },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: `${app}-ingress`, namespace },
      spec: {
        podSelector: { matchLabels: { app } },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: { role: "frontend" } } }] }],
      },
    },
  );
  return objects;
}

/** A namespace object. */
export function namespaceObject(name: string): Json {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name }, status: { phase: "Active" } };
}

/** A controller of `kind` (StatefulSet, DaemonSet) with one pod on `node`. */
export function controllerObjects(
  kind: string,
  namespace: string,
  name: string,
  node: string,
): Json[] {
  const labels = { app: name };
  const podName = kind === "StatefulSet" ? `${name}-0` : `${name}-x7k2p`;
  return [
    {
      apiVersion: "apps/v1",
      kind,
      metadata: { name, namespace, uid: `00000000-${name}-${kind}`, labels },
      spec: {
        ...(kind === "StatefulSet" ? { replicas: 1, serviceName: name } : {}),
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name, image: `docker.io/library/${name}:1` }] },
        },
      },
      status: kind === "StatefulSet"
        ? { replicas: 1, readyReplicas: 1 }
        : { desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1 },
    },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: podName,
        namespace,
        labels,
        ownerReferences: [{
          apiVersion: "apps/v1",
          kind,
          name,
          uid: `00000000-${name}-${kind}`,
          controller: true,
        }],
      },
      spec: { nodeName: node, containers: [{ name, image: `docker.io/library/${name}:1` }] },
      status: { phase: "Running" },
    },
  ];
}

/**
 * A cluster: two nodes, a namespace `shop` with the apps `web` and `api`, a StatefulSet `db`
 * and a DaemonSet `logs`.
 */
export function clusterObjects(secretValue?: string): Json[] {
  return [
    nodeObject("node-1"),
    nodeObject("node-2"),
    namespaceObject("shop"),
    ...appObjects({ namespace: "shop", app: "web", node: "node-1", secretValue }),
    ...appObjects({ namespace: "shop", app: "api", node: "node-2", secretValue, replicas: 1 }),
    ...controllerObjects("StatefulSet", "shop", "db", "node-2"),
    ...controllerObjects("DaemonSet", "shop", "logs", "node-1"),
  ];
}
