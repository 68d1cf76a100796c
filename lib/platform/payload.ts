/**
 * What the platform receives: the snapshot (the cluster's identity, every resource by kind,
 * every relationship), events (one per change of a resource or a relationship) and
 * heartbeats. The snapshot is produced as text pieces read page by page from the graph, so
 * that a cluster of 50,000 objects is sent without ever being held whole.
 *
 * @module
 */
import { type GraphEvent, type ResourceGraph, WATCHED_KINDS } from "../cluster/mod.ts";

/** One change, as the events endpoint takes it. */
export interface PlatformEvent {
  type: "ADDED" | "UPDATED" | "DELETED";
  /** A watched kind, or `Relationship`. */
  kind: string;
  uid: string;
  name: string;
  namespace: string;
  object: unknown;
}

/** The identity fields of a snapshot. */
export interface SnapshotHeader {
  cluster_uid: string;
  cluster_name: string;
  kubernetes_version: string;
  platform: string;
  region: string;
  agent_version: string;
}

/** A heartbeat. */
export interface Heartbeat {
  cluster_uid: string;
  cluster_name: string;
  agent_version: string;
  sent_at: string;
  resource_counts: Record<string, number>;
  buffered: number;
  last_snapshot_at: string | null;
}

/**
 * The event for a change of the graph. A relationship's event has kind `Relationship`, the
 * relationship as its object, and `subject predicate object` as its uid.
 *
 * @example Usage
 * ```ts
 * eventOf({ type: "ADDED", relation: { subject: "Pod/a/p", predicate: "runs-on", object: "Node//n" } });
 * // { type: "ADDED", kind: "Relationship", uid: "Pod/a/p runs-on Node//n", name: "runs-on", ... }
 * ```
 */
export function eventOf(event: GraphEvent): PlatformEvent {
  if ("resource" in event) {
    const m = event.resource.metadata;
    return {
      type: event.type,
      kind: event.resource.kind,
      uid: m.uid,
      name: m.name,
      namespace: m.namespace ?? "",
      object: event.resource,
    };
  }
  const r = event.relation;
  return {
    type: event.type === "ADDED" ? "ADDED" : "DELETED",
    kind: "Relationship",
    uid: `${r.subject} ${r.predicate} ${r.object}`,
    name: r.predicate,
    namespace: r.subject.split("/")[1] ?? "",
    object: r,
  };
}

/** Pieces are gathered up to this size before they are handed on. */
const CHUNK_CHARS = 64 * 1024;

/**
 * The snapshot as JSON text pieces: `header` fields, `taken_at`, `resources` (one list per
 * watched kind, by plural name) and `relationships`.
 */
export function* snapshotText(
  header: SnapshotHeader,
  graph: ResourceGraph,
  takenAt: Date,
): Generator<string> {
  let chunk = JSON.stringify({ ...header, taken_at: takenAt.toISOString() }).slice(0, -1) +
    ',"resources":{';
  const flush = function* (force: boolean) {
    if (chunk.length >= CHUNK_CHARS || (force && chunk.length > 0)) {
      yield chunk;
      chunk = "";
    }
  };
  for (const [i, kind] of WATCHED_KINDS.entries()) {
    chunk += `${i > 0 ? "," : ""}${JSON.stringify(kind.plural)}:[`;
    let first = true;
    for (const body of graph.bodies(kind.kind)) {
      chunk += first ? body : `,${body}`;
      first = false;
      yield* flush(false);
    }
    chunk += "]";
  }
  chunk += '},"relationships":[';
  let first = true;
  for (const r of graph.allRelations()) {
    chunk += (first ? "" : ",") + JSON.stringify(r);
    first = false;
    yield* flush(false);
  }
  chunk += "]}";
  yield* flush(true);
}

/** The snapshot as a byte stream, pulled a piece at a time. */
export function snapshotStream(
  header: SnapshotHeader,
  graph: ResourceGraph,
  takenAt: Date,
): ReadableStream<Uint8Array> {
  const pieces = snapshotText(header, graph, takenAt);
  const encoder = new TextEncoder();
  return new ReadableStream({
    pull(controller) {
      const next = pieces.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    cancel() {
      pieces.return(undefined);
    },
  }, { highWaterMark: 0 });
}
