/**
 * Milvus-shaped objects for the emulator: pods of Helm and operator installs, with
 * restarts and terminations, and the operator's `Milvus` resource.
 *
 * @module
 */
import type { Json } from "./_match.ts";

/** Options of {@linkcode milvusPod}. */
export interface PodOptions {
  namespace?: string;
  node?: string;
  component?: string;
  restarts?: number;
  /** Last termination of the container: reason and exit code. */
  terminated?: { reason: string; exitCode: number; finishedAt?: string; message?: string };
  ready?: boolean;
  extraLabels?: Record<string, string>;
}

/** A pod of a Helm release `release` (chart milvus-4.1.0). */
export function helmPod(release: string, name: string, options: PodOptions = {}): Json {
  return pod(name, {
    "app.kubernetes.io/name": "milvus",
    "app.kubernetes.io/instance": release,
    "helm.sh/chart": "milvus-4.1.0",
    "app.kubernetes.io/managed-by": "Helm",
    ...(options.component ? { component: options.component } : {}),
    ...options.extraLabels,
  }, options);
}

/** A pod of the milvus-operator instance `instance`. */
export function operatorPod(instance: string, name: string, options: PodOptions = {}): Json {
  return pod(name, {
    "app.kubernetes.io/managed-by": "milvus-operator",
    "app.kubernetes.io/instance": instance,
    "milvus.io/instance": instance,
    ...(options.component ? { "app.kubernetes.io/component": options.component } : {}),
    ...options.extraLabels,
  }, options);
}

/** Any pod with `labels`. */
export function pod(name: string, labels: Record<string, string>, options: PodOptions = {}): Json {
  const terminated = options.terminated;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: options.namespace ?? "milvus", labels },
    spec: {
      nodeName: options.node ?? "node-1",
      containers: [{ name: "main", image: "milvusdb/milvus:v2.4.0" }],
    },
    status: {
      phase: "Running",
      containerStatuses: [{
        name: "main",
        ready: options.ready ?? true,
        restartCount: options.restarts ?? 0,
        state: { running: { startedAt: "2026-11-22T00:00:00Z" } },
        ...(terminated
          ? {
            lastState: {
              terminated: {
                reason: terminated.reason,
                exitCode: terminated.exitCode,
                finishedAt: terminated.finishedAt ?? "2026-11-22T00:00:00Z",
                ...(terminated.message ? { message: terminated.message } : {}),
              },
            },
          }
          : {}),
      }],
    },
  };
}

/** The operator's `Milvus` resource. */
export function milvusResource(name: string, namespace = "milvus", status = "Healthy"): Json {
  return {
    apiVersion: "milvus.io/v1beta1",
    kind: "Milvus",
    metadata: { name, namespace },
    spec: { mode: "cluster" },
    status: { status },
  };
}
