/**
 * Kubernetes Events the agent records on the objects it judged: a `CoreDumped` Warning on
 * the pod whose core was analyzed, so `kubectl describe pod` tells what happened without
 * logging into the node.
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

/**
 * Records a Warning Event with `reason` and `message` (cut to 1 KiB, the API's limit is
 * larger but describe output is not) on a pod.
 *
 * @throws {UnavailableError} when the API refuses it.
 */
export async function recordPodEvent(
  client: KubeClient,
  pod: EventSubject,
  reason: string,
  message: string,
  reporter = "agent",
): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await client.json("POST", `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/events`, {
    body: {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: `${pod.name}.`, namespace: pod.namespace },
      involvedObject: {
        apiVersion: "v1",
        kind: "Pod",
        name: pod.name,
        namespace: pod.namespace,
        ...(pod.uid ? { uid: pod.uid } : {}),
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
