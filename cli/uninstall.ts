/**
 * `agent uninstall INSTANCE -n NS [--dry-run] [--yes] [--type helm|operator]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { ExitCode } from "../lib/errors.ts";
import { type CliContext, contextOption, kubeconfigOption } from "./_context.ts";
import { examples } from "./_help.ts";
import { print, renderJson } from "./output.ts";
import { later } from "./_later.ts";

/** Builds the `uninstall` command. */
export function uninstallCommand(context: CliContext): CommandUnknownOpts {
  const command = new Command("uninstall")
    .summary("Remove a Milvus instance (Helm release or operator resource); prints the plan first")
    .description(
      "Remove a Milvus instance. A Helm release is uninstalled as helm uninstall does, without\n" +
        "the helm binary: every object of its latest revision's manifest (except those marked\n" +
        "helm.sh/resource-policy: keep), then the release records; with cleaner.helmBinary set,\n" +
        "helm uninstall --wait does it instead. An operator instance loses its\n" +
        "Milvus resource and the operator removes the rest. Objects of other releases are never\n" +
        "touched: deletion is by name from the manifest, never by label. The plan is printed and\n" +
        "nothing is deleted unless --yes is given; --dry-run never deletes. A Warning Event records\n" +
        "why the instance was removed.",
    )
    .argument("<instance>", "Helm release name or Milvus resource name")
    .requiredOption("-n, --namespace <namespace>", "namespace of the instance")
    .addOption(
      new Option("--type <type>", "which kind of instance, when both exist").choices(
        ["helm", "operator"] as const,
      ),
    )
    .option("--yes", "delete the planned objects")
    .option("--dry-run", "print the plan only, even with --yes")
    .option(
      "--reason <text>",
      "why, recorded in the Kubernetes Event",
      "requested with agent uninstall",
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["text", "json"] as const)
        .default("text"),
    )
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .action(async (instance, options) => {
      const { config, client } = await context.kube(options);
      const { applyUninstall, planUninstall } = await later<typeof import("../lib/kube/mod.ts")>(
        "../lib/kube/mod.ts",
      );
      const plan = await planUninstall(client, options.namespace, instance, options.type);
      const apply = options.yes === true && options.dryRun !== true;
      if (!apply) {
        if (options.output === "json") {
          return await print(renderJson({ plan, applied: false, results: [] }));
        }
        const hint = options.dryRun
          ? "--dry-run: nothing was deleted."
          : "Nothing was deleted: run again with --yes to delete.";
        return await print(`${renderPlan(plan)}\n${hint}`);
      }
      const helm = config.cleaner.helmBinary
        ? {
          binary: config.cleaner.helmBinary,
          kubeconfig: config.discovery.kubeconfig || undefined,
          context: config.discovery.context || undefined,
          timeoutMs: config.cleaner.uninstallTimeout,
        }
        : undefined;
      const results = await applyUninstall(client, plan, options.reason, "agent", helm);
      if (results.some((r) => r.outcome === "failed")) context.exitCode = ExitCode.Unavailable;
      if (options.output === "json") {
        return await print(renderJson({ plan, applied: true, results }));
      }
      const lines = results.map((r) =>
        `  ${r.outcome.padEnd(12)} ${describe(r)}${r.error ? `: ${r.error}` : ""}`
      );
      await print([`Uninstalled ${title(plan)}:`, ...lines].join("\n"));
    });
  return examples(
    command,
    ["Show what uninstalling the release would delete", "agent uninstall my-release -n milvus"],
    ["Delete it", "agent uninstall my-release -n milvus --yes"],
  );
}

type Plan = Awaited<ReturnType<typeof import("../lib/kube/mod.ts").planUninstall>>;

function title(plan: Plan): string {
  return plan.type === "helm"
    ? `Helm release ${plan.namespace}/${plan.instance} (revision ${plan.release!.revision}, ${
      plan.release!.chart
    }, ${plan.release!.status})`
    : `Milvus ${plan.namespace}/${plan.instance} (milvus-operator)`;
}

function describe(o: Plan["objects"][number]): string {
  return `${o.apiVersion} ${o.kind} ${o.namespace ? `${o.namespace}/` : ""}${o.name}`;
}

function renderPlan(plan: Plan): string {
  const deleting = plan.objects.filter((o) => o.action === "delete").length;
  return [
    `Plan to uninstall ${title(plan)}:`,
    ...plan.objects.map((o) => `  ${o.action.padEnd(6)} ${describe(o)}   (${o.why})`),
    `${deleting} objects to delete, ${plan.objects.length - deleting} kept.`,
  ].join("\n");
}
