/**
 * `agent discover [milvus] [-n NS | -A] [-o table|json|yaml] [--kubeconfig F] [--context C]`
 * and `agent discover sandboxes [-o table|json|yaml] [--direct]`.
 *
 * @module
 */
import { Argument, Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import type { Config } from "../lib/config/mod.ts";
import { UsageError } from "../lib/errors.ts";
import type { SandboxView } from "../lib/kata/mod.ts";
import { type CliContext, contextOption, kubeconfigOption } from "./_context.ts";
import { examples } from "./_help.ts";
import { print, renderJson, renderTable } from "./output.ts";
import { later } from "./_later.ts";

/** Builds the `discover` command. */
export function discoverCommand(context: CliContext): CommandUnknownOpts {
  const command = new Command("discover")
    .summary("List the Milvus instances in the cluster, or this node's Kata sandboxes")
    .description(
      "List the Milvus instances: pods installed by Helm (app.kubernetes.io/name=milvus) or\n" +
        "managed by milvus-operator, grouped by instance, with their restart counts and how\n" +
        "each last terminated; the operator's Milvus resources are listed even without pods.\n" +
        "Reaches the cluster like kubectl: --kubeconfig, KUBECONFIG, ~/.kube/config, or the\n" +
        "pod's service account. Exit code 3 when the Kubernetes API cannot be reached.\n\n" +
        "agent discover sandboxes lists this node's Kata sandboxes (id, pod, namespace, runtime,\n" +
        "socket, last scrape, last error): from the daemon on server.listenAddress when one\n" +
        "runs, else read directly from kata.sandboxRoots, the CRI runtime (pod metadata) and\n" +
        "one scrape of each shim.",
    )
    .addArgument(
      new Argument("[what]", "what to discover").choices(["milvus", "sandboxes"] as const)
        .default("milvus"),
    )
    .option("-n, --namespace <namespace>", "only this namespace (default: the context's)")
    .option("-A, --all-namespaces", "every namespace")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(
        ["table", "json", "yaml"] as const,
      ).default("table"),
    )
    .option("--direct", "sandboxes: read the node directly even when a daemon runs")
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .action(async (what, options) => {
      if (what === "sandboxes") return await sandboxes(context, options);
      if (options.namespace && options.allNamespaces) {
        throw new UsageError("Give either --namespace or --all-namespaces, not both");
      }
      const { config, client, namespace: current } = await context.kube(options);
      const [{ discoverMilvus }, { signalName }] = await Promise.all([
        later<typeof import("../lib/kube/mod.ts")>("../lib/kube/mod.ts"),
        later<typeof import("../lib/core/mod.ts")>("../lib/core/mod.ts"),
      ]);
      const namespace = options.allNamespaces ? undefined : options.namespace ?? current;
      const instances = await discoverMilvus(client, {
        namespace,
        discovery: config.discovery,
      });
      if (options.output === "json") return await print(renderJson(instances));
      if (options.output === "yaml") {
        const { stringify } = await later<typeof import("yaml")>("yaml");
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
  return examples(
    command,
    ["List the Milvus instances of every namespace", "agent discover -A"],
    ["The instances of one namespace, as JSON", "agent discover milvus -n milvus-prod -o json"],
    ["This node's Kata sandboxes, with their pods", "agent discover sandboxes"],
  );
}

async function sandboxes(
  context: CliContext,
  options: { output: "table" | "json" | "yaml"; direct?: boolean },
): Promise<void> {
  const config = await context.config();
  const listed = options.direct ? undefined : await fromDaemon(config);
  const found = listed ? { source: "daemon", sandboxes: listed, warnings: [] } : {
    source: "direct",
    ...await (await later<typeof import("../lib/kata/mod.ts")>("../lib/kata/mod.ts"))
      .discoverSandboxes(config, context.log()),
  };
  for (const warning of found.warnings) context.log().warn(warning);
  if (options.output === "json") return await print(renderJson(found.sandboxes));
  if (options.output === "yaml") {
    const { stringify } = await later<typeof import("yaml")>("yaml");
    return await print(stringify(found.sandboxes, { lineWidth: 0 }));
  }
  if (found.sandboxes.length === 0) {
    return await print(`No Kata sandboxes under ${config.kata.sandboxRoots.join(", ")}.`);
  }
  await print(
    renderTable(
      ["SANDBOX", "POD", "NAMESPACE", "RUNTIME", "SOCKET", "LAST SCRAPE", "LAST ERROR"],
      found.sandboxes.map((s) => [
        s.id.slice(0, 13),
        s.name || "-",
        s.namespace || "-",
        s.runtime,
        s.socket,
        s.lastScrape ?? "-",
        s.lastError ?? "",
      ]),
    ) + `\n(from ${found.source === "daemon" ? "the daemon" : "the node directly"})`,
  );
}

/**
 * Asks the daemon on `server.listenAddress` for its `/sandboxes` (with its bearer token);
 * `undefined` when none answers.
 */
async function fromDaemon(config: Config): Promise<SandboxView[] | undefined> {
  const { hostname, port } = config.server.listenAddress;
  // A daemon listening on every interface answers on loopback.
  const loopback = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
  const headers: Record<string, string> = { accept: "application/json" };
  // Loaded by context.config() already.
  const { formatListenAddress, readBearerToken } = await later<
    typeof import("../lib/config/mod.ts")
  >("../lib/config/mod.ts");
  try {
    const token = await readBearerToken(config.server.bearerTokenFile);
    if (token) headers.authorization = `Bearer ${token}`;
    const response = await fetch(
      `http://${formatListenAddress({ hostname: loopback, port })}/sandboxes`,
      { headers, signal: AbortSignal.timeout(1000) },
    );
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    const list = await response.json();
    return Array.isArray(list) ? list as SandboxView[] : undefined;
  } catch {
    return undefined;
  }
}
