/**
 * `agent daemon [--listen-address HOST:PORT] [--node-name N] [--state-dir D] ...`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { type CliContext, contextOption, kubeconfigOption } from "./_context.ts";

/** Builds the `daemon` command. */
export function daemonCommand(context: CliContext): CommandUnknownOpts {
  return new Command("daemon")
    .summary("Run on a node: watch Milvus restarts, clean up crash loops, serve health and metrics")
    .description(
      "Run as the node's agent (a DaemonSet). Watches the Milvus pods on this node\n" +
        "(NODE_NAME) for restarts and judges each a panic or not; with cleaner.enabled,\n" +
        "uninstalls an instance stuck in a crash loop after cleaner.cleanupDelay, remembering\n" +
        "crash loops across restarts in the state database. Serves /healthz, /readyz and\n" +
        "/metrics on server.listenAddress. Stops on SIGTERM or SIGINT.",
    )
    .option(
      "--listen-address <host:port>",
      "where to serve HTTP (default: server.listenAddress, 127.0.0.1:8090)",
    )
    .option("--node-name <name>", "this node (default: nodeName, NODE_NAME)")
    .option("--state-dir <dir>", "state database directory (default: stateDir, /var/lib/agent)")
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .addHelpText(
      "after",
      "\nExamples:\n  agent daemon --config /etc/agent/config.yaml\n  NODE_NAME=node-1 agent daemon --listen-address 0.0.0.0:8090",
    )
    .action(async (options) => {
      const config = await context.config({
        "server.listenAddress": options.listenAddress,
        nodeName: options.nodeName,
        stateDir: options.stateDir,
        "discovery.kubeconfig": options.kubeconfig,
        "discovery.context": options.context,
      });
      const { runDaemon } = await import("../daemon/mod.ts");
      const stop = new AbortController();
      const signals = ["SIGTERM", "SIGINT"] as const;
      const onSignal = () => stop.abort();
      for (const signal of signals) Deno.addSignalListener(signal, onSignal);
      try {
        await runDaemon(config, { log: context.log(), signal: stop.signal });
      } finally {
        for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
      }
    });
}
