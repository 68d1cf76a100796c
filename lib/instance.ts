/**
 * Which Milvus instance a pod belongs to, by its labels: one rule for discovery and restart
 * events (`lib/kube`) and for core correlation (`lib/collect`), which needs it without a
 * cluster and so without loading the Kubernetes client.
 *
 * @module
 */

/**
 * The value of the first of `keys` (the configured instance labels) that `labels` has.
 *
 * @example Usage
 * ```ts
 * instanceName({ "app.kubernetes.io/instance": "m1" }, ["app.kubernetes.io/instance"]); // "m1"
 * ```
 */
export function instanceName(
  labels: Record<string, string>,
  keys: readonly string[],
): string | undefined {
  for (const key of keys) if (labels[key]) return labels[key];
  return undefined;
}
