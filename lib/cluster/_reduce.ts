/**
 * The reducers: one per watched kind, from an object of the API to a {@linkcode Resource}.
 * Each keeps identity, labels, the annotations in {@linkcode KEPT_ANNOTATIONS}, owner
 * references, and the spec and status fields a platform reads; everything else (managed
 * fields, `last-applied-configuration`, environment values, pod templates) is dropped.
 *
 * @module
 */
import type { OwnerRef, Resource } from "./resource.ts";
import { arr, bool, compact, type Json, num, obj, str, stringMap } from "./_pick.ts";

/**
 * The annotations kept: well-known ones that say who manages an object and how it is
 * scraped or routed. Never `kubectl.kubernetes.io/last-applied-configuration`, which holds
 * the whole object as applied (for a Secret, its values).
 */
export const KEPT_ANNOTATIONS: readonly string[] = [
  "deployment.kubernetes.io/revision",
  "meta.helm.sh/release-name",
  "meta.helm.sh/release-namespace",
  "kubernetes.io/ingress.class",
  "kubernetes.io/description",
  "prometheus.io/scrape",
  "prometheus.io/port",
  "prometheus.io/path",
  "pv.kubernetes.io/provisioned-by",
  "volume.kubernetes.io/storage-provisioner",
  "kubernetes.io/service-account.name",
];
const KEPT = new Set(KEPT_ANNOTATIONS);

/** The metadata every kind keeps. */
function metadata(object: Json, namespaced: boolean): Resource["metadata"] {
  const m = obj(object.metadata) ?? {};
  let annotations: Record<string, string> | undefined;
  const given = obj(m.annotations);
  if (given) {
    for (const key in given) {
      const value = given[key];
      if (KEPT.has(key) && typeof value === "string") (annotations ??= {})[key] = value;
    }
  }
  const owners: OwnerRef[] = [];
  for (const ref of arr(m.ownerReferences)) {
    const o = obj(ref);
    const kind = str(o?.kind);
    const name = str(o?.name);
    if (!o || !kind || !name) continue;
    owners.push({
      kind,
      name,
      uid: str(o.uid) ?? "",
      ...(o.controller === true ? { controller: true } : {}),
    });
  }
  const out: Resource["metadata"] = {
    name: str(m.name) ?? "",
    uid: str(m.uid) ?? "",
    resourceVersion: str(m.resourceVersion) ?? "",
  };
  if (namespaced) out.namespace = str(m.namespace) ?? "";
  const created = str(m.creationTimestamp);
  if (created) out.creationTimestamp = created;
  const labels = stringMap(m.labels);
  if (labels) out.labels = labels;
  if (annotations) out.annotations = annotations;
  if (owners.length > 0) out.ownerReferences = owners;
  return out;
}

/** A reducer: the object's spec and status as the platform gets them. */
type Reduce = (object: Json) => Pick<Resource, "spec" | "status" | "keys" | "type">;

const spec = (object: Json): Json => obj(object.spec) ?? {};
const status = (object: Json): Json => obj(object.status) ?? {};

/** The names of a map's keys (a ConfigMap's or Secret's data), or of a list already reduced. */
function keyNames(...values: unknown[]): string[] {
  const out = new Set<string>();
  for (const value of values) {
    if (Array.isArray(value)) { for (const k of value) if (typeof k === "string") out.add(k); }
    const o = obj(value);
    if (o) { for (const k in o) out.add(k); }
  }
  return [...out].sort();
}

function containers(list: unknown): Json[] {
  return arr(list).flatMap((c) => {
    const o = obj(c);
    if (!o) return [];
    const ports = arr(o.ports).flatMap((p) => {
      const port = num(obj(p)?.containerPort);
      return port === undefined ? [] : [
        compact({
          name: str(obj(p)!.name),
          containerPort: port,
          protocol: str(obj(p)!.protocol),
        })!,
      ];
    });
    return [compact({ name: str(o.name), image: str(o.image), ports })!];
  });
}

function containerStatuses(list: unknown): Json[] {
  return arr(list).flatMap((c) => {
    const o = obj(c);
    if (!o) return [];
    const state = obj(o.state) ?? {};
    const phase = Object.keys(state)[0];
    const detail = phase ? obj(state[phase]) : undefined;
    return [
      compact({
        name: str(o.name),
        image: str(o.image),
        imageID: str(o.imageID),
        ready: bool(o.ready),
        restartCount: num(o.restartCount),
        state: phase,
        reason: str(detail?.reason),
      })!,
    ];
  });
}

/** The ConfigMaps, Secrets and claims a pod reads, by name: volumes, env and envFrom. */
function podReferences(podSpec: Json): Json {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  const claims = new Set<string>();
  for (const volume of arr(podSpec.volumes)) {
    const v = obj(volume);
    if (!v) continue;
    const claim = str(obj(v.persistentVolumeClaim)?.claimName);
    if (claim) claims.add(claim);
    const cm = str(obj(v.configMap)?.name);
    if (cm) configMaps.add(cm);
    const secret = str(obj(v.secret)?.secretName);
    if (secret) secrets.add(secret);
    for (const source of arr(obj(v.projected)?.sources)) {
      const s = obj(source);
      const pcm = str(obj(s?.configMap)?.name);
      if (pcm) configMaps.add(pcm);
      const ps = str(obj(s?.secret)?.name);
      if (ps) secrets.add(ps);
    }
  }
  for (const c of [...arr(podSpec.containers), ...arr(podSpec.initContainers)]) {
    const container = obj(c);
    if (!container) continue;
    for (const from of arr(container.envFrom)) {
      const f = obj(from);
      const cm = str(obj(f?.configMapRef)?.name);
      if (cm) configMaps.add(cm);
      const secret = str(obj(f?.secretRef)?.name);
      if (secret) secrets.add(secret);
    }
    for (const env of arr(container.env)) {
      const from = obj(obj(env)?.valueFrom);
      const cm = str(obj(from?.configMapKeyRef)?.name);
      if (cm) configMaps.add(cm);
      const secret = str(obj(from?.secretKeyRef)?.name);
      if (secret) secrets.add(secret);
    }
  }
  for (const pull of arr(podSpec.imagePullSecrets)) {
    const name = str(obj(pull)?.name);
    if (name) secrets.add(name);
  }
  return compact({
    configMaps: [...configMaps].sort(),
    secrets: [...secrets].sort(),
    persistentVolumeClaims: [...claims].sort(),
  }) ?? {};
}

/** A LabelSelector (matchLabels, matchExpressions) as given. */
function labelSelector(value: unknown): Json | undefined {
  const o = obj(value);
  if (!o) return undefined;
  const expressions = arr(o.matchExpressions).flatMap((e) => {
    const x = obj(e);
    const key = str(x?.key);
    const operator = str(x?.operator);
    if (!x || !key || !operator) return [];
    return [{ key, operator, values: arr(x.values).filter((v) => typeof v === "string") }];
  });
  return compact({ matchLabels: stringMap(o.matchLabels), matchExpressions: expressions }) ?? {};
}

function quantities(value: unknown, names: string[]): Json | undefined {
  const o = obj(value);
  if (!o) return undefined;
  const out: Json = {};
  for (const name of names) if (typeof o[name] === "string") out[name] = o[name];
  return compact(out);
}

function replicaStatus(object: Json): Json | undefined {
  const s = status(object);
  return compact({
    replicas: num(s.replicas),
    readyReplicas: num(s.readyReplicas),
    availableReplicas: num(s.availableReplicas),
    updatedReplicas: num(s.updatedReplicas),
    observedGeneration: num(s.observedGeneration),
  });
}

function backendService(value: unknown): Json | undefined {
  const service = obj(obj(value)?.service);
  const name = str(service?.name);
  if (!name) return undefined;
  const port = obj(service!.port);
  return compact({ name, port: num(port?.number) ?? str(port?.name) });
}

/** The reducers, by kind. */
const REDUCERS: Record<string, Reduce> = {
  Namespace: (o) => ({ status: compact({ phase: str(status(o).phase) }) }),
  Node: (o) => {
    const s = spec(o);
    const st = status(o);
    const info = obj(st.nodeInfo) ?? {};
    const ready = arr(st.conditions).map(obj).find((c) => c?.type === "Ready");
    return {
      spec: compact({
        providerID: str(s.providerID),
        podCIDR: str(s.podCIDR),
        unschedulable: bool(s.unschedulable),
      }),
      status: compact({
        ready: str(ready?.status),
        addresses: arr(st.addresses).flatMap((a) => {
          const x = obj(a);
          return x && str(x.type) && str(x.address) ? [{ type: x.type, address: x.address }] : [];
        }),
        capacity: quantities(st.capacity, ["cpu", "memory", "pods", "ephemeral-storage"]),
        allocatable: quantities(st.allocatable, ["cpu", "memory", "pods"]),
        nodeInfo: compact({
          kubeletVersion: str(info.kubeletVersion),
          containerRuntimeVersion: str(info.containerRuntimeVersion),
          osImage: str(info.osImage),
          kernelVersion: str(info.kernelVersion),
          architecture: str(info.architecture),
          operatingSystem: str(info.operatingSystem),
        }),
      }),
    };
  },
  Pod: (o) => {
    const s = spec(o);
    const st = status(o);
    return {
      spec: compact({
        nodeName: str(s.nodeName),
        serviceAccountName: str(s.serviceAccountName),
        priorityClassName: str(s.priorityClassName),
        hostNetwork: bool(s.hostNetwork),
        containers: containers(s.containers),
        initContainers: containers(s.initContainers),
        ...podReferences(s),
      }),
      status: compact({
        phase: str(st.phase),
        reason: str(st.reason),
        podIP: str(st.podIP),
        hostIP: str(st.hostIP),
        qosClass: str(st.qosClass),
        startTime: str(st.startTime),
        containerStatuses: containerStatuses(st.containerStatuses),
        initContainerStatuses: containerStatuses(st.initContainerStatuses),
      }),
    };
  },
  Service: (o) => {
    const s = spec(o);
    const ingress = arr(obj(status(o).loadBalancer)?.ingress).map((i) =>
      str(obj(i)?.ip) ?? str(obj(i)?.hostname)
    ).filter((v) => v !== undefined);
    return {
      spec: compact({
        type: str(s.type),
        clusterIP: str(s.clusterIP),
        externalName: str(s.externalName),
        selector: stringMap(s.selector),
        ports: arr(s.ports).flatMap((p) => {
          const x = obj(p);
          const port = num(x?.port);
          return port === undefined ? [] : [
            compact({
              name: str(x!.name),
              protocol: str(x!.protocol),
              port,
              targetPort: num(x!.targetPort) ?? str(x!.targetPort),
              nodePort: num(x!.nodePort),
            })!,
          ];
        }),
      }),
      status: compact({ loadBalancer: ingress }),
    };
  },
  Deployment: (o) => {
    const s = spec(o);
    return {
      spec: compact({
        replicas: num(s.replicas),
        selector: labelSelector(s.selector),
        strategy: str(obj(s.strategy)?.type),
        paused: bool(s.paused),
      }),
      status: replicaStatus(o),
    };
  },
  StatefulSet: (o) => {
    const s = spec(o);
    return {
      spec: compact({
        replicas: num(s.replicas),
        serviceName: str(s.serviceName),
        selector: labelSelector(s.selector),
        podManagementPolicy: str(s.podManagementPolicy),
      }),
      status: replicaStatus(o),
    };
  },
  DaemonSet: (o) => {
    const st = status(o);
    return {
      spec: compact({ selector: labelSelector(spec(o).selector) }),
      status: compact({
        desiredNumberScheduled: num(st.desiredNumberScheduled),
        currentNumberScheduled: num(st.currentNumberScheduled),
        numberReady: num(st.numberReady),
        numberAvailable: num(st.numberAvailable),
        numberMisscheduled: num(st.numberMisscheduled),
        updatedNumberScheduled: num(st.updatedNumberScheduled),
      }),
    };
  },
  ReplicaSet: (o) => {
    const s = spec(o);
    return {
      spec: compact({ replicas: num(s.replicas), selector: labelSelector(s.selector) }),
      status: replicaStatus(o),
    };
  },
  Job: (o) => {
    const s = spec(o);
    const st = status(o);
    return {
      spec: compact({
        completions: num(s.completions),
        parallelism: num(s.parallelism),
        backoffLimit: num(s.backoffLimit),
        suspend: bool(s.suspend),
      }),
      status: compact({
        active: num(st.active),
        succeeded: num(st.succeeded),
        failed: num(st.failed),
        startTime: str(st.startTime),
        completionTime: str(st.completionTime),
      }),
    };
  },
  CronJob: (o) => {
    const s = spec(o);
    const st = status(o);
    return {
      spec: compact({
        schedule: str(s.schedule),
        timeZone: str(s.timeZone),
        suspend: bool(s.suspend),
        concurrencyPolicy: str(s.concurrencyPolicy),
      }),
      status: compact({
        active: arr(st.active).length,
        lastScheduleTime: str(st.lastScheduleTime),
        lastSuccessfulTime: str(st.lastSuccessfulTime),
      }),
    };
  },
  Ingress: (o) => {
    const s = spec(o);
    const rules = arr(s.rules).flatMap((r) => {
      const rule = obj(r);
      if (!rule) return [];
      const paths = arr(obj(rule.http)?.paths).flatMap((p) => {
        const path = obj(p);
        const backend = backendService(path?.backend);
        return path && backend
          ? [compact({ path: str(path.path), pathType: str(path.pathType), backend })!]
          : [];
      });
      return [compact({ host: str(rule.host), paths }) ?? {}];
    });
    const ingress = arr(obj(status(o).loadBalancer)?.ingress).map((i) =>
      str(obj(i)?.ip) ?? str(obj(i)?.hostname)
    ).filter((v) => v !== undefined);
    return {
      spec: compact({
        ingressClassName: str(s.ingressClassName),
        defaultBackend: backendService(s.defaultBackend),
        rules,
        tlsHosts: arr(s.tls).flatMap((t) =>
          arr(obj(t)?.hosts).filter((h) => typeof h === "string")
        ),
      }),
      status: compact({ loadBalancer: ingress }),
    };
  },
  NetworkPolicy: (o) => {
    const s = spec(o);
    return {
      spec: compact({
        podSelector: labelSelector(s.podSelector),
        policyTypes: arr(s.policyTypes).filter((t) => typeof t === "string"),
        ingressRules: arr(s.ingress).length,
        egressRules: arr(s.egress).length,
      }),
    };
  },
  PersistentVolume: (o) => {
    const s = spec(o);
    const claim = obj(s.claimRef);
    return {
      spec: compact({
        capacity: str(obj(s.capacity)?.storage),
        accessModes: arr(s.accessModes).filter((m) => typeof m === "string"),
        storageClassName: str(s.storageClassName),
        reclaimPolicy: str(s.persistentVolumeReclaimPolicy),
        volumeMode: str(s.volumeMode),
        csiDriver: str(obj(s.csi)?.driver),
        claimRef: claim
          ? compact({ namespace: str(claim.namespace), name: str(claim.name) })
          : undefined,
      }),
      status: compact({ phase: str(status(o).phase) }),
    };
  },
  PersistentVolumeClaim: (o) => {
    const s = spec(o);
    const st = status(o);
    return {
      spec: compact({
        storageClassName: str(s.storageClassName),
        volumeName: str(s.volumeName),
        accessModes: arr(s.accessModes).filter((m) => typeof m === "string"),
        requests: str(obj(obj(s.resources)?.requests)?.storage),
        volumeMode: str(s.volumeMode),
      }),
      status: compact({ phase: str(st.phase), capacity: str(obj(st.capacity)?.storage) }),
    };
  },
  // The decoder already replaced data and binaryData with their key names; a reducer that
  // met values anyway keeps the names only.
  ConfigMap: (o) => ({
    keys: keyNames(o.data, o.binaryData),
    ...(o.immutable === true ? { spec: { immutable: true } } : {}),
  }),
  Secret: (o) => ({
    keys: keyNames(o.data, o.binaryData, o.stringData),
    type: str(o.type),
    ...(o.immutable === true ? { spec: { immutable: true } } : {}),
  }),
};

/**
 * Reduces `object` of `kind` (served as `apiVersion`) to a {@linkcode Resource}.
 *
 * @example Usage
 * ```ts
 * const pod = reduce("Pod", "v1", true, { metadata: { name: "web", namespace: "a", uid: "1" } });
 * pod.metadata.name; // "web"
 * ```
 */
export function reduce(
  kind: string,
  apiVersion: string,
  namespaced: boolean,
  object: Json,
): Resource {
  const parts = REDUCERS[kind]?.(object) ?? {};
  const out: Resource = { apiVersion, kind, metadata: metadata(object, namespaced) };
  if (parts.type !== undefined) out.type = parts.type;
  if (parts.keys !== undefined) out.keys = parts.keys;
  if (parts.spec !== undefined) out.spec = parts.spec;
  if (parts.status !== undefined) out.status = parts.status;
  return out;
}
