/**
 * Kubernetes Events the agent records on the objects it judged: a `CoreDumped` Warning on
 * the pod whose core was analyzed, so `kubectl describe pod` tells what happened without
 * logging into the node, and `MilvusUninstalled` on an instance it removed.
 *
 * @module
 */
import type { KubeClient } from "./client.ts";

/** The pod an event is about. */
export interface EventSubject {
  namespace: string;
  name: string;
  /** The pod's UID: `kubectl describe` matches events by it. */
  uid: string | null;
}

/** Any object an event is about. */
export interface EventObject extends EventSubject {
  apiVersion: string;
  kind: string;
}

/**
 * Records a Warning Event with `reason` and `message` (cut to 1 KiB: the API allows more,
 * describe output does not) on an object; `generateName` is `prefix.` (default its name).
 *
 * @throws {UnavailableError} when the API refuses it.
 */
export async function recordEvent(
  client: KubeClient,
  object: EventObject,
  reason: string,
  message: string,
  reporter = "agent",
  prefix = object.name,
): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const namespace = object.namespace;
  await client.json("POST", `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
    body: {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${prefix}.`, namespace },
      involvedObject: {
        apiVersion: object.apiVersion,
        kind: object.kind,
        name: object.name,
        namespace,
        ...(object.uid ? { uid: object.uid } : {}),
      },
      reason,
      message: message.length > 1024 ? `${message.slice(0, 1023)}…` : message,
      type: "Warning",
      source: { component: reporter },
      reportingComponent: reporter,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}

/**
 * Records a Warning Event on a pod.
 *
 * @throws {UnavailableError} when the API refuses it.
 */
export function recordPodEvent(
  client: KubeClient,
  pod: EventSubject,
  reason: string,
  message: string,
  reporter = "agent",
): Promise<void> {
  return recordEvent(client, { apiVersion: "v1", kind: "Pod", ...pod }, reason, message, reporter);
}
