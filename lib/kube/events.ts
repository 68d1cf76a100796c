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

/** The most of a message an Event gets: the API allows more, describe output does not. */
const MAX_MESSAGE_CHARS = 1024;

function cutMessage(message: string): string {
  return message.length > MAX_MESSAGE_CHARS
    ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}\u2026`
    : message;
}

function timestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * Records a Warning Event with `reason` and `message` (cut to 1 KiB) on an object;
 * `generateName` is `prefix.` (default its name). Returns the Event's name.
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
): Promise<string | undefined> {
  const now = timestamp();
  const namespace = object.namespace;
  const created = await client.json(
    "POST",
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
    {
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
        message: cutMessage(message),
        type: "Warning",
        source: { component: reporter },
        reportingComponent: reporter,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    },
  );
  return created.metadata?.name;
}

/**
 * Replaces the message of the Event `name` (recorded by {@linkcode recordEvent}): what was
 * learnt of the same occurrence later, such as the AI explanation of a core.
 *
 * @throws {UnavailableError} when the API refuses it.
 */
export async function updateEventMessage(
  client: KubeClient,
  namespace: string,
  name: string,
  message: string,
): Promise<void> {
  await client.json(
    "PATCH",
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/events/${encodeURIComponent(name)}`,
    {
      body: { message: cutMessage(message), lastTimestamp: timestamp() },
      contentType: "application/merge-patch+json",
    },
  );
}

/**
 * Records a Warning Event on a pod; returns its name.
 *
 * @throws {UnavailableError} when the API refuses it.
 */
export function recordPodEvent(
  client: KubeClient,
  pod: EventSubject,
  reason: string,
  message: string,
  reporter = "agent",
): Promise<string | undefined> {
  return recordEvent(client, { apiVersion: "v1", kind: "Pod", ...pod }, reason, message, reporter);
}
