/**
 * A resource as the agent keeps it: a slim Kubernetes object (identity, labels, selected
 * annotations, owner references, and the spec and status fields a platform needs), shaped
 * like the API's objects so that the informer caches it and the platform reads it as one.
 *
 * @module
 */

/** An owner reference, as the API writes it. */
export interface OwnerRef {
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

/** A reduced object of one of the watched kinds. */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    /** Absent for cluster-scoped kinds. */
    namespace?: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerRef[];
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  /** ConfigMaps and Secrets: the names of their keys, never the values. */
  keys?: string[];
  /** Secrets: their `type`. */
  type?: string;
}

/**
 * The key of a resource in the graph: `Kind/namespace/name` (namespace empty for
 * cluster-scoped kinds). Kubernetes names never hold a `/`.
 *
 * @example Usage
 * ```ts
 * resourceKey("Pod", "default", "web-0"); // "Pod/default/web-0"
 * resourceKey("Node", "", "node-1"); // "Node//node-1"
 * ```
 */
export function resourceKey(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ""}/${name}`;
}

/** The key of `resource` (see {@linkcode resourceKey}). */
export function keyOf(resource: Resource): string {
  return resourceKey(resource.kind, resource.metadata.namespace, resource.metadata.name);
}

/**
 * Splits a key into kind, namespace and name.
 *
 * @example Usage
 * ```ts
 * parseKey("Pod/default/web-0"); // { kind: "Pod", namespace: "default", name: "web-0" }
 * ```
 */
export function parseKey(key: string): { kind: string; namespace: string; name: string } {
  const [kind = "", namespace = "", ...name] = key.split("/");
  return { kind, namespace, name: name.join("/") };
}
