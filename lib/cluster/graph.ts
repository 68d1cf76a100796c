/**
 * The resource graph: the watched resources and the relationships between them, in SQLite
 * (`node:sqlite`; in memory by default, a file when asked). Keys are interned into integer
 * ids so that a relationship costs three integers, and a name referenced before its object
 * is seen (a pod's node) gets an id without a body. Subscribers hear every change of a
 * resource (ADDED, UPDATED, DELETED) and of a relationship (ADDED, DELETED), in order.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { Channel } from "../channel.ts";
import { keyOf, parseKey, type Resource } from "./resource.ts";
import {
  type Predicate,
  PREDICATES,
  selectorMatches,
  serviceSelector,
  statedRelations,
} from "./_relations.ts";

/** A relationship between two resources, by key. */
export interface Relation {
  subject: string;
  predicate: Predicate;
  object: string;
}

/** A change of the graph. */
export type GraphEvent =
  | { type: "ADDED" | "UPDATED" | "DELETED"; resource: Resource }
  | { type: "ADDED" | "DELETED"; relation: Relation };

/** What the informer says happened to an object. */
export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

/** Options of {@linkcode ResourceGraph}. */
export interface ResourceGraphOptions {
  /** A database file; default in memory. */
  path?: string;
  /** Hears about subscribers that throw. */
  onSubscriberError?: (error: unknown) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS graph_nodes (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE,
  rv TEXT,
  body TEXT
);
CREATE TABLE IF NOT EXISTS graph_edges (
  s INTEGER NOT NULL, p INTEGER NOT NULL, o INTEGER NOT NULL,
  PRIMARY KEY (s, p, o)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS graph_edges_o ON graph_edges (o);
CREATE TABLE IF NOT EXISTS graph_pod_labels (
  ns TEXT NOT NULL, label TEXT NOT NULL, value TEXT NOT NULL, pod INTEGER NOT NULL,
  PRIMARY KEY (ns, label, value, pod)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS graph_pod_labels_pod ON graph_pod_labels (pod);
`;

const SELECTS = PREDICATES.indexOf("selects");

/**
 * The graph.
 *
 * @example Usage
 * ```ts
 * const graph = new ResourceGraph();
 * graph.subscribe((event) => console.log(event.type));
 * graph.apply("ADDED", {
 *   apiVersion: "v1", kind: "Pod",
 *   metadata: { name: "web-0", namespace: "shop", uid: "u1", resourceVersion: "1" },
 *   spec: { nodeName: "node-1" },
 * });
 * graph.relations("Pod/shop/web-0").outgoing; // [{ predicate: "runs-on", object: "Node//node-1", ... }]
 * graph.close();
 * ```
 */
export class ResourceGraph {
  readonly #db: DatabaseSync;
  readonly #channel: Channel<GraphEvent>;
  readonly #counts = new Map<string, number>();
  /**
   * The Services' selectors by namespace, so that a new pod is matched against them without
   * reading the Services' bodies back (that made adding a pod 20 times slower).
   */
  readonly #selectors = new Map<string, Map<string, Record<string, string>>>();
  readonly #q: ReturnType<typeof statements>;
  /** The transaction the changes of this turn of the event loop go into, when one is open. */
  #pending: ReturnType<typeof setTimeout> | undefined;
  /** Inside {@linkcode transaction}. */
  #explicit = false;

  /** Opens the graph (an empty one: the informers fill it). */
  constructor(options: ResourceGraphOptions = {}) {
    this.#db = new DatabaseSync(options.path ?? ":memory:");
    this.#db.exec("PRAGMA journal_mode = MEMORY; PRAGMA synchronous = OFF;");
    this.#db.exec(SCHEMA);
    // A file from an earlier run holds an earlier cluster: the informers list it again.
    this.#db.exec(
      "DELETE FROM graph_edges; DELETE FROM graph_pod_labels; DELETE FROM graph_nodes;",
    );
    this.#channel = new Channel(options.onSubscriberError);
    this.#q = statements(this.#db);
  }

  /** Calls `subscriber` with every change from now on; returns the unsubscribe. */
  subscribe(subscriber: (event: GraphEvent) => void): () => void {
    return this.#channel.subscribe(subscriber);
  }

  /** How many resources the graph holds. */
  get size(): number {
    let total = 0;
    for (const n of this.#counts.values()) total += n;
    return total;
  }

  /** The bytes of the database's pages: what the graph takes in memory (or on disk). */
  storageBytes(): number {
    const count = this.#db.prepare("PRAGMA page_count").get() as { page_count: number };
    const size = this.#db.prepare("PRAGMA page_size").get() as { page_size: number };
    return count.page_count * size.page_size;
  }

  /** How many resources of each kind it holds. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.#counts].filter(([, n]) => n > 0).sort());
  }

  /**
   * Applies what an informer saw. An object whose resourceVersion the graph already holds
   * is skipped; returns whether anything changed.
   */
  apply(type: ChangeType, resource: Resource): boolean {
    this.#begin();
    const key = keyOf(resource);
    const row = this.#q.id.get(key) as
      | { id: number; rv: string | null; body: string | null }
      | undefined;
    if (type === "DELETED") {
      if (!row || row.body === null) return false;
      const previous = JSON.parse(row.body) as Resource;
      this.#q.clearBody.run(row.id);
      this.#count(previous.kind, -1);
      this.#channel.publish({ type: "DELETED", resource: previous });
      this.#setRelations(row.id, key, []);
      if (previous.kind === "Pod") this.#podDeleted(row.id, key);
      if (previous.kind === "Service") this.#selections(row.id, key, undefined, undefined);
      this.#q.dropNode.run(row.id);
      return true;
    }
    if (row?.body != null && row.rv === resource.metadata.resourceVersion) return false;
    const id = row?.id ?? this.#intern(key);
    const previous = row?.body != null ? JSON.parse(row.body) as Resource : undefined;
    this.#q.setBody.run(resource.metadata.resourceVersion, JSON.stringify(resource), id);
    if (!previous) this.#count(resource.kind, 1);
    this.#channel.publish({ type: previous ? "UPDATED" : "ADDED", resource });
    this.#setRelations(id, key, statedRelations(resource));
    // Most updates are status changes: selections are worked out again only when the
    // labels of a pod or the selector of a Service changed.
    if (
      resource.kind === "Pod" &&
      !(previous && same(previous.metadata.labels, resource.metadata.labels))
    ) {
      this.#podLabels(id, key, resource);
    }
    const selector = serviceSelector(resource);
    if (resource.kind === "Service" && !(previous && same(serviceSelector(previous), selector))) {
      this.#selections(id, key, selector, resource.metadata.namespace ?? "");
    }
    return true;
  }

  /** Runs `fn` in one transaction: many changes at once (a relist) apply much faster. */
  transaction<T>(fn: () => T): T {
    this.#commit();
    this.#db.exec("BEGIN");
    this.#explicit = true;
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    } finally {
      this.#explicit = false;
    }
  }

  /** The resource with `key`, if the graph holds it. */
  get(key: string): Resource | undefined {
    const row = this.#q.id.get(key) as { body: string | null } | undefined;
    return row?.body ? JSON.parse(row.body) as Resource : undefined;
  }

  /** The resources of `kind` (every kind when absent), optionally in one namespace. */
  *list(kind?: string, namespace?: string): Generator<Resource> {
    for (const body of this.bodies(kind, namespace)) yield JSON.parse(body) as Resource;
  }

  /**
   * The stored JSON of the resources of `kind` (every kind when absent), in pages read one
   * at a time, so that a snapshot of 50,000 objects never holds more than a page.
   */
  *bodies(kind?: string, namespace?: string, pageSize = 500): Generator<string> {
    const prefix = kind === undefined
      ? ""
      : namespace === undefined
      ? `${kind}/`
      : `${kind}/${namespace}/`;
    // Keys are `Kind/ns/name`: every key with the prefix sorts below prefix + U+FFFF.
    const end = prefix === "" ? "\uffff" : `${prefix}\uffff`;
    let after = prefix;
    for (;;) {
      const rows = this.#q.range.all(after, end, pageSize) as { key: string; body: string }[];
      for (const row of rows) yield row.body;
      if (rows.length < pageSize) return;
      after = rows.at(-1)!.key;
    }
  }

  /** Every relationship, in pages read one at a time. */
  *allRelations(pageSize = 500): Generator<Relation> {
    let after: [number, number, number] = [0, -1, 0];
    for (;;) {
      const rows = this.#q.edgesFrom.all(...after, pageSize) as {
        s: string;
        p: number;
        o: string;
        si: number;
        oi: number;
      }[];
      for (const row of rows) {
        yield { subject: row.s, predicate: PREDICATES[row.p]!, object: row.o };
      }
      if (rows.length < pageSize) return;
      const last = rows.at(-1)!;
      after = [last.si, last.p, last.oi];
    }
  }

  /** The relationships of the resource with `key`: those it states and those stated of it. */
  relations(key: string): { outgoing: Relation[]; incoming: Relation[] } {
    const row = this.#q.id.get(key) as { id: number } | undefined;
    if (!row) return { outgoing: [], incoming: [] };
    return {
      outgoing: (this.#q.out.all(row.id) as { p: number; key: string }[]).map((r) => ({
        subject: key,
        predicate: PREDICATES[r.p]!,
        object: r.key,
      })),
      incoming: (this.#q.in.all(row.id) as { p: number; key: string }[]).map((r) => ({
        subject: r.key,
        predicate: PREDICATES[r.p]!,
        object: key,
      })),
    };
  }

  /**
   * What is connected to `key`: the resources reachable over relationships in either
   * direction, up to `depth` steps (default 3). Nodes and Namespaces are reached but not
   * gone through (every pod of a node is not "connected" to every other), unless one is
   * the start.
   */
  neighborhood(
    key: string,
    depth = 3,
  ): { resources: Resource[]; relations: Relation[]; missing: string[] } {
    const seen = new Set([key]);
    const relations = new Map<string, Relation>();
    let frontier = [key];
    for (let step = 0; step < depth && frontier.length > 0; step++) {
      const next: string[] = [];
      for (const at of frontier) {
        if (at !== key && HUBS.has(parseKey(at).kind)) continue;
        const { outgoing, incoming } = this.relations(at);
        for (const r of [...outgoing, ...incoming]) {
          relations.set(`${r.subject} ${r.predicate} ${r.object}`, r);
          for (const end of [r.subject, r.object]) {
            if (!seen.has(end)) {
              seen.add(end);
              next.push(end);
            }
          }
        }
      }
      frontier = next;
    }
    const resources: Resource[] = [];
    const missing: string[] = [];
    for (const k of seen) {
      const resource = this.get(k);
      if (resource) resources.push(resource);
      else missing.push(k);
    }
    return { resources, relations: [...relations.values()], missing };
  }

  /** Forgets everything, without telling subscribers (a new leader lists the cluster again). */
  clear(): void {
    this.#commit();
    this.#db.exec(
      "DELETE FROM graph_edges; DELETE FROM graph_pod_labels; DELETE FROM graph_nodes;",
    );
    this.#counts.clear();
    this.#selectors.clear();
  }

  /** Closes the database. */
  close(): void {
    this.#commit();
    this.#db.close();
  }

  /**
   * Opens a transaction that commits once this turn of the event loop is over: the changes
   * of one watch chunk, or of a whole list, go in together (one transaction per statement
   * made applying a change about twice as slow). Reads on the same connection see them at
   * once; a graph file is rebuilt at start-up, so nothing relies on them being on disk.
   */
  #begin(): void {
    if (this.#pending !== undefined || this.#explicit) return;
    this.#db.exec("BEGIN");
    this.#pending = setTimeout(() => this.#commit(), 0);
  }

  #commit(): void {
    if (this.#pending === undefined) return;
    clearTimeout(this.#pending);
    this.#pending = undefined;
    this.#db.exec("COMMIT");
  }

  #intern(key: string): number {
    const inserted = this.#q.intern.get(key) as { id: number } | undefined;
    return inserted?.id ?? (this.#q.id.get(key) as { id: number }).id;
  }

  #count(kind: string, delta: number): void {
    this.#counts.set(kind, (this.#counts.get(kind) ?? 0) + delta);
  }

  /** Makes the relationships `id` states (all but "selects") exactly `wanted`. */
  #setRelations(id: number, key: string, wanted: [Predicate, string][]): void {
    const current = (this.#q.out.all(id) as { p: number; o: number; key: string }[])
      .filter((r) => r.p !== SELECTS);
    const want = new Map(
      wanted.map(([p, o]) => [`${PREDICATES.indexOf(p)} ${o}`, [p, o] as const]),
    );
    for (const r of current) {
      if (want.delete(`${r.p} ${r.key}`)) continue;
      this.#dropEdge(id, r.p, r.o, key, r.key);
    }
    for (const [p, object] of want.values()) {
      const o = this.#intern(object);
      this.#q.addEdge.run(id, PREDICATES.indexOf(p), o);
      this.#channel.publish({ type: "ADDED", relation: { subject: key, predicate: p, object } });
    }
  }

  #dropEdge(s: number, p: number, o: number, subject: string, object: string): void {
    this.#q.dropEdge.run(s, p, o);
    this.#q.dropNode.run(o);
    this.#channel.publish({
      type: "DELETED",
      relation: { subject, predicate: PREDICATES[p]!, object },
    });
  }

  /** Indexes a pod's labels and works out which Services of its namespace select it. */
  #podLabels(id: number, key: string, pod: Resource): void {
    const ns = pod.metadata.namespace ?? "";
    const labels = pod.metadata.labels;
    this.#q.dropLabels.run(id);
    for (const [label, value] of Object.entries(labels ?? {})) {
      this.#q.addLabel.run(ns, label, value, id);
    }
    const selecting = new Set<string>();
    for (const [service, selector] of this.#selectors.get(ns) ?? []) {
      if (selectorMatches(selector, labels)) selecting.add(service);
    }
    const current = (this.#q.in.all(id) as { p: number; s: number; key: string }[])
      .filter((r) => r.p === SELECTS);
    for (const r of current) {
      if (!selecting.delete(r.key)) this.#dropEdge(r.s, SELECTS, id, r.key, key);
    }
    for (const service of selecting) {
      this.#q.addEdge.run(this.#intern(service), SELECTS, id);
      this.#channel.publish({
        type: "ADDED",
        relation: { subject: service, predicate: "selects", object: key },
      });
    }
  }

  #podDeleted(id: number, key: string): void {
    this.#q.dropLabels.run(id);
    for (const r of this.#q.in.all(id) as { p: number; s: number; key: string }[]) {
      if (r.p === SELECTS) this.#dropEdge(r.s, SELECTS, id, r.key, key);
    }
  }

  /** Makes the pods Service `id` selects those its selector matches in its namespace. */
  #selections(
    id: number,
    key: string,
    selector: Record<string, string> | undefined,
    ns: string | undefined,
  ): void {
    const space = parseKey(key).namespace ?? "";
    const selectors = this.#selectors.get(space) ?? new Map<string, Record<string, string>>();
    if (selector) selectors.set(key, selector);
    else selectors.delete(key);
    if (selectors.size > 0) this.#selectors.set(space, selectors);
    else this.#selectors.delete(space);
    const wanted = new Set<number>();
    if (selector && ns !== undefined) {
      const pairs = Object.entries(selector);
      let candidates: Set<number> | undefined;
      for (const [label, value] of pairs) {
        const pods = new Set(
          (this.#q.podsWith.all(ns, label, value) as { pod: number }[]).map((r) => r.pod),
        );
        candidates = candidates ? new Set([...candidates].filter((p) => pods.has(p))) : pods;
        if (candidates.size === 0) break;
      }
      for (const pod of candidates ?? []) wanted.add(pod);
    }
    const current = (this.#q.out.all(id) as { p: number; o: number; key: string }[])
      .filter((r) => r.p === SELECTS);
    for (const r of current) {
      if (!wanted.delete(r.o)) this.#dropEdge(id, SELECTS, r.o, key, r.key);
    }
    for (const pod of wanted) {
      const podKey = this.#keyOfId(pod);
      this.#q.addEdge.run(id, SELECTS, pod);
      this.#channel.publish({
        type: "ADDED",
        relation: { subject: key, predicate: "selects", object: podKey },
      });
    }
  }

  #keyOfId(id: number): string {
    return (this.#q.keyOf.get(id) as { key: string }).key;
  }
}

function same(
  a: Record<string, string> | undefined,
  b: Record<string, string> | undefined,
): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});
}

/** The graph's prepared statements. */
function statements(db: DatabaseSync) {
  const p = (sql: string) => db.prepare(sql);
  return {
    id: p("SELECT id, rv, body FROM graph_nodes WHERE key = ?"),
    keyOf: p("SELECT key FROM graph_nodes WHERE id = ?"),
    intern: p(
      "INSERT INTO graph_nodes (key) VALUES (?) ON CONFLICT (key) DO NOTHING RETURNING id",
    ),
    setBody: p("UPDATE graph_nodes SET rv = ?, body = ? WHERE id = ?"),
    clearBody: p("UPDATE graph_nodes SET rv = NULL, body = NULL WHERE id = ?"),
    dropNode: p(
      "DELETE FROM graph_nodes WHERE id = ? AND body IS NULL AND NOT EXISTS " +
        "(SELECT 1 FROM graph_edges WHERE s = ?1 OR o = ?1)",
    ),
    out: p(
      "SELECT e.p AS p, e.o AS o, n.key AS key FROM graph_edges e JOIN graph_nodes n ON n.id = e.o WHERE e.s = ?",
    ),
    in: p(
      "SELECT e.p AS p, e.s AS s, n.key AS key FROM graph_edges e JOIN graph_nodes n ON n.id = e.s WHERE e.o = ?",
    ),
    addEdge: p("INSERT INTO graph_edges (s, p, o) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
    dropEdge: p("DELETE FROM graph_edges WHERE s = ? AND p = ? AND o = ?"),
    addLabel: p(
      "INSERT INTO graph_pod_labels (ns, label, value, pod) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    ),
    dropLabels: p("DELETE FROM graph_pod_labels WHERE pod = ?"),
    podsWith: p("SELECT pod FROM graph_pod_labels WHERE ns = ? AND label = ? AND value = ?"),
    range: p(
      "SELECT key, body FROM graph_nodes WHERE key > ? AND key < ? AND body IS NOT NULL ORDER BY key LIMIT ?",
    ),
    edgesFrom: p(
      "SELECT s.key AS s, e.p AS p, o.key AS o, e.s AS si, e.o AS oi FROM graph_edges e " +
        "JOIN graph_nodes s ON s.id = e.s JOIN graph_nodes o ON o.id = e.o " +
        "WHERE (e.s, e.p, e.o) > (?, ?, ?) ORDER BY e.s, e.p, e.o LIMIT ?",
    ),
  };
}

/** Kinds a neighborhood reaches but does not go through. */
const HUBS = new Set(["Node", "Namespace"]);
