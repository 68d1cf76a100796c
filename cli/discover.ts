/**
 * `agent discover [milvus] [-n NS | -A] [-o table|json|yaml] [--kubeconfig F] [--context C]`.
 *
 * @module
 */
import { Argument, Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { UsageError } from "../lib/errors.ts";
import { signalName } from "../lib/core/mod.ts";
import { type CliContext, contextOption, kubeconfigOption } from "./_context.ts";
import { print, renderJson, renderTable } from "./output.ts";

/** Builds the `discover` command. */
export function discoverCommand(context: CliContext): CommandUnknownOpts {
  return new Command("discover")
    .summary("List the Milvus instances in the cluster, with restarts and last terminations")
    .description(
      "List the Milvus instances: pods installed by Helm (app.kubernetes.io/name=milvus) or\n" +
        "managed by milvus-operator, grouped by instance, with their restart counts and how\n" +
        "each last terminated; the operator's Milvus resources are listed even without pods.\n" +
        "Reaches the cluster like kubectl: --kubeconfig, KUBECONFIG, ~/.kube/config, or the\n" +
        "pod's service account. Exit code 3 when the Kubernetes API cannot be reached.",
    )
    .addArgument(
      new Argument("[what]", "what to discover").choices(["milvus"] as const).default("milvus"),
    )
    .option("-n, --namespace <namespace>", "only this namespace (default: the context's)")
    .option("-A, --all-namespaces", "every namespace")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(
        ["table", "json", "yaml"] as const,
      ).default("table"),
    )
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .addHelpText(
      "after",
      "\nExamples:\n  agent discover -A\n  agent discover milvus -n milvus-prod -o json",
    )
    .action(async (_what, options) => {
      if (options.namespace && options.allNamespaces) {
        throw new UsageError("Give either --namespace or --all-namespaces, not both");
      }
      const { config, client, namespace: current } = await context.kube(options);
      const { discoverMilvus } = await import("../lib/kube/mod.ts");
      const namespace = options.allNamespaces ? undefined : options.namespace ?? current;
      const instances = await discoverMilvus(client, {
        namespace,
        discovery: config.discovery,
      });
      if (options.output === "json") return await print(renderJson(instances));
      if (options.output === "yaml") {
        const { stringify } = await import("yaml");
        return await print(stringify(instances, { lineWidth: 0 }));
      }
      if (instances.length === 0) {
        return await print(
          namespace
            ? `No Milvus instances found in namespace ${namespace}.`
            : "No Milvus instances found.",
        );
      }
      const rows = instances.map((i) => {
        const t = i.lastTermination;
        const last = t
          ? `${t.pod}/${t.container}: ${t.reason ?? "terminated"}` +
            (t.exitCode !== null ? `, exit ${t.exitCode}` : "") +
            (t.signal !== null ? ` (${signalName(t.signal)})` : "") +
            (t.finishedAt ? ` at ${t.finishedAt}` : "")
          : "-";
        return [
          i.namespace,
          i.name,
          i.type,
          `${i.pods.filter((p) => p.ready).length}/${i.pods.length}`,
          String(i.restarts),
          i.status ?? "-",
          last,
        ];
      });
      await print(
        renderTable([
          "NAMESPACE",
          "NAME",
          "TYPE",
          "READY",
          "RESTARTS",
          "STATUS",
          "LAST TERMINATION",
        ], rows),
      );
    });
}
