/**
 * The kinds the agent watches for the resource graph, as data: where each is listed, whether
 * it is namespaced, and how its objects are decoded and reduced. ConfigMaps and Secrets are
 * decoded with {@linkcode dropValues}: their values are replaced by their key names while the
 * API's answer is parsed, before any cache sees the object.
 *
 * @module
 */
import type { KubeObject, Reviver } from "../kube/mod.ts";
import type { Resource } from "./resource.ts";
import { KEPT_ANNOTATIONS, reduce } from "./_reduce.ts";

/** One watched kind. */
export interface WatchedKind {
  kind: string;
  apiVersion: string;
  /** The collection's name in the API, and the resource list's name in a snapshot. */
  plural: string;
  namespaced: boolean;
  /** Applied while answers are decoded (ConfigMaps and Secrets: values dropped). */
  reviver?: Reviver;
}

const KEPT = new Set(KEPT_ANNOTATIONS);

/**
 * The decoder of ConfigMaps and Secrets: `data`, `binaryData` and `stringData` become the
 * sorted list of their keys, annotations other than the kept ones (among them
 * `last-applied-configuration`, which holds the values as applied) and managed fields go.
 * `JSON.parse` calls it for each member once its value is parsed, so the values are dropped
 * as the answer is decoded and no object holding them is ever handed on.
 *
 * @example Usage
 * ```ts
 * const secret = JSON.parse('{"data":{"password":"aHVudGVyMg=="}}', dropValues);
 * secret.data; // ["password"]
 * ```
 */
export const dropValues: Reviver = (key: string, value: unknown): unknown => {
  switch (key) {
    case "data":
    case "binaryData":
    case "stringData":
      return typeof value === "object" && value !== null && !Array.isArray(value)
        ? Object.keys(value).sort()
        : value;
    case "annotations": {
      if (typeof value !== "object" || value === null) return value;
      const kept: Record<string, unknown> = {};
      for (const name of Object.keys(value)) {
        if (KEPT.has(name)) kept[name] = (value as Record<string, unknown>)[name];
      }
      return kept;
    }
    case "managedFields":
      return undefined;
    default:
      return value;
  }
};

const core = (kind: string, plural: string, namespaced = true): WatchedKind => ({
  kind,
  apiVersion: "v1",
  plural,
  namespaced,
});
const group = (apiVersion: string, kind: string, plural: string): WatchedKind => ({
  kind,
  apiVersion,
  plural,
  namespaced: true,
});

/** Every kind watched, in the order a snapshot lists them. */
export const WATCHED_KINDS: readonly WatchedKind[] = [
  core("Namespace", "namespaces", false),
  core("Node", "nodes", false),
  core("Pod", "pods"),
  core("Service", "services"),
  group("apps/v1", "Deployment", "deployments"),
  group("apps/v1", "StatefulSet", "statefulsets"),
  group("apps/v1", "DaemonSet", "daemonsets"),
  group("apps/v1", "ReplicaSet", "replicasets"),
  group("batch/v1", "Job", "jobs"),
  group("batch/v1", "CronJob", "cronjobs"),
  group("networking.k8s.io/v1", "Ingress", "ingresses"),
  group("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
  core("PersistentVolume", "persistentvolumes", false),
  core("PersistentVolumeClaim", "persistentvolumeclaims"),
  { ...core("ConfigMap", "configmaps"), reviver: dropValues },
  { ...core("Secret", "secrets"), reviver: dropValues },
];

/**
 * The collection path of `kind`, across namespaces or in `namespace`.
 *
 * @example Usage
 * ```ts
 * collectionPath(WATCHED_KINDS[2]!); // "/api/v1/pods"
 * ```
 */
export function collectionPath(kind: WatchedKind, namespace?: string): string {
  const base = kind.apiVersion === "v1" ? "/api/v1" : `/apis/${kind.apiVersion}`;
  return kind.namespaced && namespace
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${kind.plural}`
    : `${base}/${kind.plural}`;
}

/**
 * Finds a watched kind by its name, plural or the short names kubectl knows (`pod`, `pods`,
 * `po`, `deploy`...), case-insensitively.
 */
export function findKind(name: string): WatchedKind | undefined {
  const wanted = name.toLowerCase();
  return WATCHED_KINDS.find((k) =>
    k.kind.toLowerCase() === wanted || k.plural === wanted || SHORT[wanted] === k.kind
  );
}

const SHORT: Record<string, string> = {
  ns: "Namespace",
  no: "Node",
  po: "Pod",
  svc: "Service",
  deploy: "Deployment",
  sts: "StatefulSet",
  ds: "DaemonSet",
  rs: "ReplicaSet",
  cj: "CronJob",
  ing: "Ingress",
  netpol: "NetworkPolicy",
  pv: "PersistentVolume",
  pvc: "PersistentVolumeClaim",
  cm: "ConfigMap",
};

/** Reduces an object of the API of `kind` to the {@linkcode Resource} the agent keeps. */
export function reduceObject(kind: WatchedKind, object: KubeObject): Resource {
  return reduce(kind.kind, kind.apiVersion, kind.namespaced, object);
}
