/**
 * Uninstalling a Milvus instance. Helm releases are removed as `helm uninstall` does, without
 * the helm binary: the objects in the latest revision's manifest (read from the release
 * Secret), in Helm's uninstall order, then the release Secrets. Operator instances lose their
 * `Milvus` resource and the operator cleans up. The plan is built first and printed; only
 * {@linkcode applyUninstall} deletes, and it touches exactly the objects in the plan.
 *
 * @module
 */
import { recordEvent as postEvent } from "./events.ts";
import { gunzipSync } from "node:zlib";
import { errorMessage, InputError, UnavailableError } from "../errors.ts";
import { runCommand, type Runner, type RunResult, text } from "../run.ts";
import { KubeApiError, type KubeClient, type KubeObject } from "./client.ts";

/** One object the uninstall deletes (or keeps). */
export interface PlannedObject {
  apiVersion: string;
  kind: string;
  namespace: string | null;
  name: string;
  /** API path of the object. */
  path: string;
  /** `keep` when the manifest asks Helm to keep it (`helm.sh/resource-policy: keep`). */
  action: "delete" | "keep";
  why: string;
}

/** What an uninstall will do. */
export interface UninstallPlan {
  instance: string;
  namespace: string;
  type: "helm" | "operator";
  /** For Helm: the latest revision, its status and chart. */
  release: { revision: number; status: string; chart: string } | null;
  objects: PlannedObject[];
}

/** The outcome for one planned object. */
export interface UninstallResult extends PlannedObject {
  outcome: "deleted" | "already gone" | "kept" | "failed";
  error?: string;
}

/** Helm's uninstall order (`releaseutil.UninstallOrder`); other kinds go last. */
const UNINSTALL_ORDER = [
  "APIService",
  "Ingress",
  "IngressClass",
  "Service",
  "CronJob",
  "Job",
  "StatefulSet",
  "HorizontalPodAutoscaler",
  "Deployment",
  "ReplicaSet",
  "ReplicationController",
  "Pod",
  "DaemonSet",
  "RoleBindingList",
  "RoleBinding",
  "Role",
  "ClusterRoleBindingList",
  "ClusterRoleBinding",
  "ClusterRole",
  "CustomResourceDefinition",
  "PersistentVolumeClaim",
  "PersistentVolume",
  "StorageClass",
  "ConfigMap",
  "SecretList",
  "Secret",
  "ServiceAccount",
  "PodDisruptionBudget",
  "PodSecurityPolicy",
  "LimitRange",
  "ResourceQuota",
  "NetworkPolicy",
  "Namespace",
  "PriorityClass",
];

type Json = Record<string, unknown>;

/** A decoded Helm release (the parts uninstall needs). */
export interface HelmRelease {
  name: string;
  namespace: string;
  revision: number;
  status: string;
  chart: string;
  manifest: string;
  /** Names of every revision's Secret. */
  secrets: string[];
}

/**
 * Decodes a Helm 3 release Secret's `data.release`: base64 (the Secret's encoding) of
 * base64 of (usually gzipped) release JSON.
 *
 * @throws {InputError} when the data is not a Helm release.
 */
export function decodeHelmRelease(data: string, secret: string): Json {
  try {
    const inner = atob(atob(data));
    const bytes: Uint8Array = Uint8Array.from(inner, (c) => c.charCodeAt(0));
    const plain = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
    return JSON.parse(new TextDecoder().decode(plain)) as Json;
  } catch (error) {
    throw new InputError(
      `Secret "${secret}" does not hold a readable Helm release: ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
}

/** Reads the latest revision of a Helm release, or `undefined` when there is none. */
export async function readHelmRelease(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<HelmRelease | undefined> {
  const { items } = await client.list(`/api/v1/namespaces/${namespace}/secrets`, {
    labelSelector: `owner=helm,name=${name}`,
  });
  const releases = items.filter((s) => s.type === "helm.sh/release.v1");
  if (releases.length === 0) return undefined;
  const version = (s: KubeObject) => Number(s.metadata?.labels?.version ?? 0);
  const latest = releases.reduce((a, b) => (version(b) > version(a) ? b : a));
  const secretName = latest.metadata?.name ?? "";
  const data = (latest.data as Json | undefined)?.release;
  if (typeof data !== "string") throw new InputError(`Secret "${secretName}" has no release data`);
  const release = decodeHelmRelease(data, secretName);
  const chart = ((release.chart as Json | undefined)?.metadata as Json | undefined) ?? {};
  return {
    name,
    namespace,
    revision: Number(release.version ?? version(latest)),
    status: String(
      (release.info as Json | undefined)?.status ?? latest.metadata?.labels?.status ?? "unknown",
    ),
    chart: `${chart.name ?? "?"}-${chart.version ?? "?"}`,
    manifest: String(release.manifest ?? ""),
    secrets: releases.map((s) => s.metadata?.name ?? "").sort(),
  };
}

/** Maps kinds to their API paths through discovery, one group/version at a time. */
class KindResolver {
  readonly #lists = new Map<string, Promise<Json[]>>();
  constructor(private readonly client: KubeClient) {}

  async resolve(
    apiVersion: string,
    kind: string,
  ): Promise<{ plural: string; namespaced: boolean }> {
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    let list = this.#lists.get(base);
    if (!list) {
      list = this.client.json<{ resources?: Json[] }>("GET", base).then((r) => r.resources ?? []);
      this.#lists.set(base, list);
    }
    const found = (await list).find((r) => r.kind === kind && !String(r.name).includes("/"));
    if (!found) throw new InputError(`The cluster does not serve ${apiVersion} ${kind}`);
    return { plural: String(found.name), namespaced: found.namespaced === true };
  }

  async path(apiVersion: string, kind: string, namespace: string, name: string) {
    const { plural, namespaced } = await this.resolve(apiVersion, kind);
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return {
      namespace: namespaced ? namespace : null,
      path: namespaced
        ? `${base}/namespaces/${namespace}/${plural}/${name}`
        : `${base}/${plural}/${name}`,
    };
  }
}

/**
 * Builds the plan for uninstalling `instance` in `namespace`. `type` picks Helm or operator
 * when both exist.
 *
 * @throws {InputError} when there is no such instance, or it is ambiguous without `type`.
 */
export async function planUninstall(
  client: KubeClient,
  namespace: string,
  instance: string,
  type?: "helm" | "operator",
): Promise<UninstallPlan> {
  const release = type === "operator"
    ? undefined
    : await readHelmRelease(client, namespace, instance);
  const resource = type === "helm"
    ? undefined
    : await readMilvusResource(client, namespace, instance);
  if (release && resource && !type) {
    throw new InputError(
      `Both a Helm release and a Milvus resource are named "${instance}" in namespace "${namespace}": pass --type helm or --type operator`,
    );
  }
  if (resource) {
    return {
      instance,
      namespace,
      type: "operator",
      release: null,
      objects: [{
        apiVersion: "milvus.io/v1beta1",
        kind: "Milvus",
        namespace,
        name: instance,
        path: `/apis/milvus.io/v1beta1/namespaces/${namespace}/milvuses/${instance}`,
        action: "delete",
        why: "the operator removes what it created for it",
      }],
    };
  }
  if (!release) {
    const what = type === "helm"
      ? "no Helm release"
      : type === "operator"
      ? "no Milvus resource"
      : "no Helm release and no Milvus resource";
    throw new InputError(
      `No Milvus instance "${instance}" in namespace "${namespace}": ${what} by that name`,
    );
  }
  const { parseAllDocuments } = await import("yaml");
  const resolver = new KindResolver(client);
  const objects: PlannedObject[] = [];
  for (const document of parseAllDocuments(release.manifest)) {
    const object = document.toJS() as KubeObject | null;
    if (!object?.kind || !object.apiVersion || !object.metadata?.name) continue;
    const where = await resolver.path(
      object.apiVersion,
      object.kind,
      object.metadata.namespace ?? namespace,
      object.metadata.name,
    );
    const keep = object.metadata.annotations?.["helm.sh/resource-policy"] === "keep";
    objects.push({
      apiVersion: object.apiVersion,
      kind: object.kind,
      name: object.metadata.name,
      ...where,
      action: keep ? "keep" : "delete",
      why: keep
        ? "helm.sh/resource-policy: keep"
        : `in the manifest of revision ${release.revision}`,
    });
  }
  const rank = (kind: string) => {
    const at = UNINSTALL_ORDER.indexOf(kind);
    return at < 0 ? UNINSTALL_ORDER.length : at;
  };
  objects.sort((a, b) => rank(a.kind) - rank(b.kind));
  for (const secret of release.secrets) {
    objects.push({
      apiVersion: "v1",
      kind: "Secret",
      namespace,
      name: secret,
      path: `/api/v1/namespaces/${namespace}/secrets/${secret}`,
      action: "delete",
      why: "Helm release record",
    });
  }
  return {
    instance,
    namespace,
    type: "helm",
    release: { revision: release.revision, status: release.status, chart: release.chart },
    objects,
  };
}

async function readMilvusResource(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<KubeObject | undefined> {
  try {
    return await client.json(
      "GET",
      `/apis/milvus.io/v1beta1/namespaces/${namespace}/milvuses/${name}`,
    );
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return undefined;
    throw error;
  }
}

/** How to run the helm binary instead of deleting objects one by one. */
export interface HelmBinaryOptions {
  /** Path or name of `helm`. */
  binary: string;
  kubeconfig?: string;
  context?: string;
  /** `--timeout` for `helm uninstall --wait`. */
  timeoutMs: number;
  /** Runs helm; default {@linkcode runCommand}. */
  run?: Runner;
}

/**
 * Deletes the planned objects, in order, and records a Warning Event saying why. Objects
 * already gone count as done; a failure on one does not stop the others. With `helm`, a Helm
 * release is removed by `helm uninstall --wait` instead.
 *
 * @throws {UnavailableError} when `helm` is given but cannot be run.
 */
export async function applyUninstall(
  client: KubeClient,
  plan: UninstallPlan,
  reason: string,
  reporter = "agent",
  helm?: HelmBinaryOptions,
): Promise<UninstallResult[]> {
  const results = helm && plan.type === "helm"
    ? await helmUninstall(plan, helm)
    : await deleteEach(client, plan);
  await recordEvent(client, plan, reason, reporter, results).catch(() => {});
  return results;
}

async function deleteEach(client: KubeClient, plan: UninstallPlan): Promise<UninstallResult[]> {
  const results: UninstallResult[] = [];
  for (const object of plan.objects) {
    if (object.action === "keep") {
      results.push({ ...object, outcome: "kept" });
      continue;
    }
    try {
      await client.request("DELETE", object.path, { query: { propagationPolicy: "Background" } });
      results.push({ ...object, outcome: "deleted" });
    } catch (error) {
      const gone = error instanceof KubeApiError && error.status === 404;
      results.push({
        ...object,
        outcome: gone ? "already gone" : "failed",
        ...(gone ? {} : { error: errorMessage(error) }),
      });
    }
  }
  return results;
}

async function helmUninstall(
  plan: UninstallPlan,
  helm: HelmBinaryOptions,
): Promise<UninstallResult[]> {
  const args = [
    "uninstall",
    plan.instance,
    "--namespace",
    plan.namespace,
    "--wait",
    "--timeout",
    `${Math.ceil(helm.timeoutMs / 1000)}s`,
  ];
  if (helm.kubeconfig) args.push("--kubeconfig", helm.kubeconfig);
  if (helm.context) args.push("--kube-context", helm.context);
  let out: RunResult;
  try {
    // helm waits up to its own --timeout; a little longer, and it is stuck.
    out = await (helm.run ?? runCommand)(helm.binary, {
      args,
      timeoutMs: helm.timeoutMs + 30_000,
    });
  } catch (error) {
    throw new UnavailableError(`Cannot run helm "${helm.binary}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
  const error = out.code === 0 ? undefined : text(out.stderr).trim().split("\n").at(-1) ||
    (out.timedOut ? "timed out" : `exit code ${out.code}`);
  return plan.objects.map((object) =>
    object.action === "keep"
      ? { ...object, outcome: "kept" }
      : error
      ? { ...object, outcome: "failed", error: `helm uninstall: ${error}` }
      : { ...object, outcome: "deleted" }
  );
}

async function recordEvent(
  client: KubeClient,
  plan: UninstallPlan,
  reason: string,
  reporter: string,
  results: UninstallResult[],
): Promise<void> {
  // The event names the instance's main object: the Milvus resource, or the release record.
  const subject = plan.type === "operator"
    ? plan.objects[0]!
    : plan.objects.filter((o) => o.kind === "Secret").at(-1)!;
  const deleted = results.filter((r) => r.outcome === "deleted").length;
  await postEvent(
    client,
    {
      apiVersion: subject.apiVersion,
      kind: subject.kind,
      name: subject.name,
      namespace: plan.namespace,
      uid: null,
    },
    "MilvusUninstalled",
    `${reporter} uninstalled ${
      plan.type === "helm" ? "Helm release" : "Milvus"
    } ${plan.instance} ` +
      `(${deleted} objects deleted): ${reason}`,
    reporter,
    plan.instance,
  );
}
