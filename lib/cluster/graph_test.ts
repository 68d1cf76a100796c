import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { clusterObjects } from "../../tests/support/kube/cluster_fixtures.ts";
import { waitFor } from "../../tests/support/net.ts";
import { DatabaseSync } from "node:sqlite";
import type { KubeObject } from "../kube/mod.ts";
import { findKind, reduceObject } from "./kinds.ts";
import { type GraphEvent, type Relation, ResourceGraph } from "./graph.ts";
import type { Resource } from "./resource.ts";

function resources(): Resource[] {
  let rv = 100;
  return clusterObjects().map((o) => {
    const resource = reduceObject(findKind(String(o.kind))!, o as KubeObject);
    resource.metadata.resourceVersion = String(rv++);
    resource.metadata.uid ||= `uid-${rv}`;
    return resource;
  });
}

function load(graph: ResourceGraph, list = resources()): void {
  for (const r of list) graph.apply("ADDED", r);
}

const line = (r: Relation) => `${r.subject} ${r.predicate} ${r.object}`;

Deno.test("ResourceGraph derives every kind of relationship", () => {
  const graph = new ResourceGraph();
  try {
    load(graph);
    const relations = [...graph.allRelations()].map(line).sort();
    const pod = "Pod/shop/web-7d9f8b6c5-xxxx0";
    for (
      const expected of [
        `${pod} runs-on Node//node-1`,
        `${pod} owned-by ReplicaSet/shop/web-7d9f8b6c5`,
        "ReplicaSet/shop/web-7d9f8b6c5 owned-by Deployment/shop/web",
        `Service/shop/web selects ${pod}`,
        "Ingress/shop/web routes-to Service/shop/web",
        `${pod} mounts PersistentVolumeClaim/shop/web-data`,
        "PersistentVolumeClaim/shop/web-data bound-to PersistentVolume//pvc-web-shop",
        `${pod} uses ConfigMap/shop/web-config`,
        `${pod} uses Secret/shop/web-db`,
        "Job/shop/web-report-29000000 owned-by CronJob/shop/web-report",
      ]
    ) {
      assert(relations.includes(expected), `missing ${expected} in\n${relations.join("\n")}`);
    }
    // The api Service selects only the api pod.
    assertEquals(
      relations.filter((r) => r.startsWith("Service/shop/api selects")),
      ["Service/shop/api selects Pod/shop/api-7d9f8b6c5-xxxx0"],
    );
    assertEquals(graph.counts().Pod, 5);
    assertEquals(graph.size, resources().length);
    // The bodies are in the database's pages.
    assert(graph.storageBytes() > resources().length * 100);
  } finally {
    graph.close();
  }
});

Deno.test("ResourceGraph finds selections whichever end arrives first", () => {
  const all = resources();
  const forwards = new ResourceGraph();
  const backwards = new ResourceGraph();
  try {
    load(forwards, all);
    load(backwards, all.toReversed());
    const a = [...forwards.allRelations()].map(line).sort();
    const b = [...backwards.allRelations()].map(line).sort();
    assertEquals(a, b);
  } finally {
    forwards.close();
    backwards.close();
  }
});

Deno.test("ResourceGraph tells subscribers of resources and relationships, in order", () => {
  const graph = new ResourceGraph();
  try {
    load(graph);
    const events: string[] = [];
    graph.subscribe((e: GraphEvent) =>
      events.push(
        "resource" in e
          ? `${e.type} ${e.resource.kind}/${e.resource.metadata.name}`
          : `${e.type} ${line(e.relation)}`,
      )
    );
    const pod = graph.get("Pod/shop/web-7d9f8b6c5-xxxx0")!;
    // Same resourceVersion: skipped.
    assertEquals(graph.apply("MODIFIED", pod), false);
    // Relabelled: the Service stops selecting it.
    const moved = structuredClone(pod);
    moved.metadata.resourceVersion = "9000";
    moved.metadata.labels = { app: "other" };
    assertEquals(graph.apply("MODIFIED", moved), true);
    assertEquals(events, [
      "UPDATED Pod/web-7d9f8b6c5-xxxx0",
      "DELETED Service/shop/web selects Pod/shop/web-7d9f8b6c5-xxxx0",
    ]);
    events.length = 0;
    graph.apply("DELETED", moved);
    assertEquals(events[0], "DELETED Pod/web-7d9f8b6c5-xxxx0");
    assert(events.includes("DELETED Pod/shop/web-7d9f8b6c5-xxxx0 runs-on Node//node-1"));
    assertEquals(graph.get("Pod/shop/web-7d9f8b6c5-xxxx0"), undefined);
    // Deleting what is already gone changes nothing.
    events.length = 0;
    assertEquals(graph.apply("DELETED", moved), false);
    assertEquals(events, []);
  } finally {
    graph.close();
  }
});

Deno.test("ResourceGraph keeps a relationship to an object not seen yet", () => {
  const graph = new ResourceGraph();
  try {
    const pod = resources().find((r) => r.kind === "Pod")!;
    graph.apply("ADDED", pod);
    const hood = graph.neighborhood("Pod/shop/web-7d9f8b6c5-xxxx0");
    assertEquals(hood.resources.map((r) => r.kind), ["Pod"]);
    assert(hood.missing.includes("Node//node-1"));
    const node = resources().find((r) => r.kind === "Node")!;
    graph.apply("ADDED", node);
    assertEquals(
      graph.relations("Node//node-1").incoming.map(line),
      ["Pod/shop/web-7d9f8b6c5-xxxx0 runs-on Node//node-1"],
    );
  } finally {
    graph.close();
  }
});

Deno.test("ResourceGraph.neighborhood() follows relationships but not through nodes", () => {
  const graph = new ResourceGraph();
  try {
    load(graph);
    const hood = graph.neighborhood("Deployment/shop/web");
    const names = hood.resources.map((r) => `${r.kind}/${r.metadata.name}`).sort();
    for (const want of ["ReplicaSet/web-7d9f8b6c5", "Pod/web-7d9f8b6c5-xxxx1", "Node/node-1"]) {
      assert(names.includes(want), names.join(" "));
    }
    // node-2 only runs api pods: reached through node-1 it would be; it is not.
    assert(!names.includes("Pod/api-7d9f8b6c5-xxxx0"), names.join(" "));
    const fromNode = graph.neighborhood("Node//node-1", 1);
    assertEquals(fromNode.resources.filter((r) => r.kind === "Pod").length, 3);
  } finally {
    graph.close();
  }
});

Deno.test("ResourceGraph pages its resources and relationships", () => {
  const graph = new ResourceGraph();
  try {
    load(graph);
    assertEquals([...graph.bodies("Pod", undefined, 1)].length, 5);
    assertEquals([...graph.bodies("Pod", "shop", 2)].length, 5);
    assertEquals([...graph.bodies(undefined, undefined, 4)].length, graph.size);
    assertEquals([...graph.allRelations(2)].length, [...graph.allRelations()].length);
  } finally {
    graph.close();
  }
});

Deno.test("ResourceGraph on disk starts empty and clear() forgets everything", async () => {
  await withTempDir(async (dir) => {
    const first = new ResourceGraph({ path: `${dir}/graph.db` });
    load(first);
    first.close();
    const second = new ResourceGraph({ path: `${dir}/graph.db` });
    try {
      assertEquals(second.size, 0);
      load(second);
      second.clear();
      assertEquals([...second.bodies()].length, 0);
      assertEquals([...second.allRelations()].length, 0);
    } finally {
      second.close();
    }
    await Promise.resolve();
  });
});

Deno.test("ResourceGraph commits the changes of one turn together, once it is over", async () => {
  await withTempDir(async (dir) => {
    const graph = new ResourceGraph({ path: `${dir}/graph.db` });
    const reader = new DatabaseSync(`${dir}/graph.db`, { readOnly: true });
    const stored = () =>
      (reader.prepare("SELECT count(*) AS n FROM graph_nodes WHERE body IS NOT NULL").get() as {
        n: number;
      }).n;
    try {
      load(graph);
      // Seen at once through the graph, by another connection once the turn is over.
      assertEquals(graph.size, resources().length);
      assertEquals(stored(), 0);
      await waitFor(() => stored() === resources().length, "the commit");
      // An explicit transaction commits what is pending first, then its own changes.
      const pod = graph.get("Pod/shop/web-7d9f8b6c5-xxxx0")!;
      graph.apply("DELETED", pod);
      graph.transaction(() => graph.apply("ADDED", pod));
      assertEquals(stored(), resources().length);
    } finally {
      reader.close();
      graph.close();
    }
  });
});
