/**
 * Finds the Milvus instances in a cluster (or on one node): pods installed by Helm or
 * managed by milvus-operator, grouped into instances, with restart counts and each
 * container's last termination; operator `Milvus` resources without pods are included.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { KubeApiError, type KubeClient, type KubeObject } from "./client.ts";
import { instanceName } from "../instance.ts";

/** How a container last ended. */
export interface Termination {
  container: string;
  reason: string | null;
  exitCode: number | null;
  /** The killing signal: the reported one, or exit code minus 128. */
  signal: number | null;
  finishedAt: string | null;
  message: string | null;
}

/** One pod of an instance. */
export interface MilvusPod {
  name: string;
  component: string | null;
  node: string | null;
  phase: string | null;
  ready: boolean;
  restarts: number;
  /** The most recent termination among its containers. */
  lastTermination: Termination | null;
}

/** One Milvus installation. */
export interface MilvusInstance {
  name: string;
  namespace: string;
  type: "helm" | "operator";
  pods: MilvusPod[];
  restarts: number;
  /** The operator's status of its `Milvus` resource, when there is one. */
  status: string | null;
  lastTermination: (Termination & { pod: string }) | null;
}

/** Where to look. */
export interface DiscoverOptions {
  /** One namespace, or all when undefined. */
  namespace?: string;
  /** Only pods scheduled on this node (the daemon's own). */
  nodeName?: string;
  discovery: Config["discovery"];
}

type Json = Record<string, unknown>;

function labelsOf(object: KubeObject): Record<string, string> {
  return object.metadata?.labels ?? {};
}

/** The most recent `lastState.terminated` among a pod's containers. */
export function lastTermination(pod: KubeObject): Termination | null {
  const statuses = ((pod.status as Json | undefined)?.containerStatuses as Json[] | undefined) ??
    [];
  let latest: Termination | null = null;
  for (const status of statuses) {
    const terminated = ((status.lastState as Json | undefined)?.terminated ??
      (status.state as Json | undefined)?.terminated) as
        | Json
        | undefined;
    if (!terminated) continue;
    const exitCode = typeof terminated.exitCode === "number" ? terminated.exitCode : null;
    const signal = typeof terminated.signal === "number" && terminated.signal > 0
      ? terminated.signal
      : exitCode !== null && exitCode > 128
      ? exitCode - 128
      : null;
    const candidate: Termination = {
      container: String(status.name),
      reason: typeof terminated.reason === "string" ? terminated.reason : null,
      exitCode,
      signal,
      finishedAt: typeof terminated.finishedAt === "string" ? terminated.finishedAt : null,
      message: typeof terminated.message === "string" ? terminated.message : null,
    };
    if (!latest || (candidate.finishedAt ?? "") > (latest.finishedAt ?? "")) latest = candidate;
  }
  return latest;
}

function podSummary(pod: KubeObject): MilvusPod {
  const statuses = ((pod.status as Json | undefined)?.containerStatuses as Json[] | undefined) ??
    [];
  const labels = labelsOf(pod);
  return {
    name: pod.metadata?.name ?? "",
    component: labels["app.kubernetes.io/component"] ?? labels.component ?? null,
    node: ((pod.spec as Json | undefined)?.nodeName as string | undefined) ?? null,
    phase: ((pod.status as Json | undefined)?.phase as string | undefined) ?? null,
    ready: statuses.length > 0 && statuses.every((s) => s.ready === true),
    restarts: statuses.reduce((sum, s) => sum + Number(s.restartCount ?? 0), 0),
    lastTermination: lastTermination(pod),
  };
}

/**
 * Discovers the Milvus instances.
 *
 * @throws {UnavailableError} when the API cannot be reached.
 */
export async function discoverMilvus(
  client: KubeClient,
  options: DiscoverOptions,
): Promise<MilvusInstance[]> {
  const { discovery } = options;
  const podsPath = options.namespace
    ? `/api/v1/namespaces/${options.namespace}/pods`
    : "/api/v1/pods";
  const fieldSelector = options.nodeName ? `spec.nodeName=${options.nodeName}` : undefined;
  const seen = new Map<string, { pod: KubeObject; type: "helm" | "operator" }>();
  // Label selectors cannot say "or": one list per selector, operator first so it wins.
  for (
    const [type, selectors] of [["operator", discovery.operatorSelectors], [
      "helm",
      discovery.helmSelectors,
    ]] as const
  ) {
    for (const labelSelector of selectors) {
      const { items } = await client.list(podsPath, { labelSelector, fieldSelector });
      for (const pod of items) {
        const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
        if (seen.has(key)) continue;
        const chart = labelsOf(pod)["helm.sh/chart"];
        if (
          type === "helm" && chart !== undefined && !chart.startsWith(discovery.helmChartPrefix)
        ) continue;
        seen.set(key, { pod, type });
      }
    }
  }
  const instances = new Map<string, MilvusInstance>();
  const instanceFor = (namespace: string, name: string, type: "helm" | "operator") => {
    const key = `${namespace}/${name}/${type}`;
    let instance = instances.get(key);
    if (!instance) {
      instance = {
        name,
        namespace,
        type,
        pods: [],
        restarts: 0,
        status: null,
        lastTermination: null,
      };
      instances.set(key, instance);
    }
    return instance;
  };
  for (const { pod, type } of seen.values()) {
    const namespace = pod.metadata?.namespace ?? "";
    if (discovery.excludeNamespaces.includes(namespace)) continue;
    if (discovery.namespaces.length > 0 && !discovery.namespaces.includes(namespace)) continue;
    const name = instanceName(labelsOf(pod), discovery.instanceLabels) ?? "(unlabelled)";
    instanceFor(namespace, name, type).pods.push(podSummary(pod));
  }
  if (!options.nodeName) {
    for (const cr of await listMilvusResources(client, options.namespace)) {
      const namespace = cr.metadata?.namespace ?? "";
      if (discovery.excludeNamespaces.includes(namespace)) continue;
      const instance = instanceFor(namespace, cr.metadata?.name ?? "", "operator");
      instance.status = ((cr.status as Json | undefined)?.status as string | undefined) ?? null;
    }
  }
  for (const instance of instances.values()) {
    instance.pods.sort((a, b) => a.name.localeCompare(b.name));
    instance.restarts = instance.pods.reduce((sum, p) => sum + p.restarts, 0);
    for (const pod of instance.pods) {
      const t = pod.lastTermination;
      if (
        t &&
        (!instance.lastTermination ||
          (t.finishedAt ?? "") > (instance.lastTermination.finishedAt ?? ""))
      ) {
        instance.lastTermination = { ...t, pod: pod.name };
      }
    }
  }
  return [...instances.values()].sort((a, b) =>
    `${a.namespace}/${a.name}/${a.type}`.localeCompare(`${b.namespace}/${b.name}/${b.type}`)
  );
}

/** The operator's `Milvus` resources; none when the CRD is not installed. */
async function listMilvusResources(client: KubeClient, namespace?: string): Promise<KubeObject[]> {
  const path = namespace
    ? `/apis/milvus.io/v1beta1/namespaces/${namespace}/milvuses`
    : "/apis/milvus.io/v1beta1/milvuses";
  try {
    return (await client.list(path)).items;
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return [];
    throw error;
  }
}
