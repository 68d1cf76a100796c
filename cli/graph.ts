/**
 * `agent graph [KIND/NAME] [-n NS | -A] [-o table|json|dot] [--kubeconfig F] [--context C]`:
 * what is connected to a resource, from one list of the cluster (no daemon needed).
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { InputError, UsageError } from "../lib/errors.ts";
import type { Relation, Resource } from "../lib/cluster/mod.ts";
import { type CliContext, contextOption, kubeconfigOption } from "./_context.ts";
import { examples } from "./_help.ts";
import { print, renderJson, renderTable } from "./output.ts";
import { later } from "./_later.ts";

/** Builds the `graph` command. */
export function graphCommand(context: CliContext): CommandUnknownOpts {
  const command = new Command("graph")
    .summary("Show what is connected to a resource: nodes, owners, services, volumes, config")
    .description(
      "List the cluster's resources (16 kinds, ConfigMap and Secret values never read into " +
        "memory) and the relationships between them: pod runs-on node, owned-by its " +
        "controller, service selects pod, ingress routes-to service, pod mounts claim bound-to " +
        "volume, pod uses ConfigMap/Secret. With KIND/NAME, what is connected to that resource " +
        "(up to --depth steps, not through nodes and namespaces); without, every relationship " +
        "in the namespace. Reaches the cluster like kubectl. Exit code 2 when KIND/NAME does " +
        "not exist, 3 when the Kubernetes API cannot be reached.",
    )
    .argument("[resource]", "KIND/NAME, e.g. deploy/web, pod/web-0, node/node-1")
    .option("-n, --namespace <namespace>", "the namespace (default: the context's)")
    .option("-A, --all-namespaces", "every namespace")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(
        ["table", "json", "dot"] as const,
      )
        .default("table"),
    )
    .addOption(
      new Option("--depth <n>", "steps to follow from KIND/NAME (1-10)").default("3")
        .argParser((v) => v),
    )
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .action(async (wanted, options) => {
      if (options.namespace && options.allNamespaces) {
        throw new UsageError("Give either --namespace or --all-namespaces, not both");
      }
      const depth = Number(options.depth);
      if (!Number.isInteger(depth) || depth < 1 || depth > 10) {
        throw new UsageError(
          `Invalid --depth "${options.depth}": expected a whole number from 1 to 10`,
        );
      }
      const { findKind, ResourceGraph, loadGraph, resourceKey } = await later<
        typeof import("../lib/cluster/mod.ts")
      >("../lib/cluster/mod.ts");
      let target: { kind: string; name: string; namespaced: boolean } | undefined;
      if (wanted !== undefined) {
        const slash = wanted.indexOf("/");
        const kind = slash > 0 ? findKind(wanted.slice(0, slash)) : undefined;
        const name = wanted.slice(slash + 1);
        if (!kind || !name) {
          throw new UsageError(
            `Invalid resource "${wanted}": expected KIND/NAME of a watched kind, e.g. deploy/web`,
          );
        }
        target = { kind: kind.kind, name, namespaced: kind.namespaced };
      }
      const { client, namespace: current } = await context.kube(options);
      const namespace = options.allNamespaces ? undefined : options.namespace ?? current;
      const graph = new ResourceGraph();
      try {
        // Only the namespace's objects are listed (cluster-scoped kinds always), except when
        // the relationships of a cluster-scoped resource are asked for: a node's pods live in
        // every namespace.
        const scope = target && !target.namespaced && !options.namespace ? undefined : namespace;
        await loadGraph(client, graph, {
          namespace: scope,
          onSkip: (kind, reason) => context.log().warn(`${kind.plural} skipped: ${reason}`),
        });
        let resources: Resource[];
        let relations: Relation[];
        let missing: string[] = [];
        if (target) {
          const key = resourceKey(
            target.kind,
            target.namespaced ? namespace ?? "" : "",
            target.name,
          );
          if (!graph.get(key)) {
            throw new InputError(
              target.namespaced
                ? `${target.kind} "${target.name}" not found in namespace "${namespace ?? ""}"`
                : `${target.kind} "${target.name}" not found`,
            );
          }
          ({ resources, relations, missing } = graph.neighborhood(key, depth));
        } else {
          resources = [...graph.list()];
          relations = [...graph.allRelations()];
        }
        relations.sort((a, b) => lineOf(a).localeCompare(lineOf(b)));
        if (options.output === "json") {
          return await print(renderJson({ resources, relationships: relations, missing }));
        }
        if (options.output === "dot") return await print(renderDot(relations));
        if (relations.length === 0) {
          return await print(
            target ? `${wanted} has no relationships.` : "No relationships found.",
          );
        }
        const shown = new Set(missing);
        await print(
          renderTable(
            ["SUBJECT", "RELATION", "OBJECT"],
            relations.map((r) => [
              r.subject.replace("//", "/"),
              r.predicate,
              r.object.replace("//", "/") + (shown.has(r.object) ? " (not found)" : ""),
            ]),
          ),
        );
      } finally {
        graph.close();
      }
    });
  return examples(
    command,
    [
      "What a Deployment's pods run on, mount and use, in namespace shop",
      "agent graph deploy/web -n shop",
    ],
    [
      "Everything on a node, drawn with Graphviz",
      "agent graph node/node-1 -o dot | dot -Tsvg > node.svg",
    ],
    ["Every relationship in the cluster, as JSON", "agent graph -A -o json"],
  );
}

function lineOf(r: Relation): string {
  return `${r.subject} ${r.predicate} ${r.object}`;
}

/** Graphviz: one node per resource, one labelled edge per relationship. */
function renderDot(relations: Relation[]): string {
  const quote = (s: string) => JSON.stringify(s.replace("//", "/"));
  const lines = ["digraph cluster {", "  rankdir=LR;", "  node [shape=box];"];
  for (const r of relations) {
    lines.push(`  ${quote(r.subject)} -> ${quote(r.object)} [label=${quote(r.predicate)}];`);
  }
  lines.push("}");
  return lines.join("\n");
}
