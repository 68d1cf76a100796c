/**
 * `agent daemon [--listen-address HOST:PORT] [--runtime-endpoint PATH]
 * [--metrics-interval-secs N] [--node-name N] [--state-dir D] ...`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { type CliContext, contextOption, flag, kubeconfigOption } from "./_context.ts";
import { examples } from "./_help.ts";
import { later } from "./_later.ts";

/** Builds the `daemon` command. */
export function daemonCommand(context: CliContext): CommandUnknownOpts {
  const command = new Command("daemon")
    .summary(
      "Run on a node: collect cores, watch Milvus restarts, serve Kata sandbox metrics",
    )
    .description(
      "Run as the node's agent (a DaemonSet). Collects the cores in collector.paths (analyze,\n" +
        "tie to a pod, score, store, index; retention every storage.retention.interval).\n" +
        "Watches the Milvus pods on this node (NODE_NAME) for restarts and judges each a\n" +
        "panic or not; with cleaner.enabled, uninstalls an instance stuck in a crash loop.\n" +
        "Scrapes every Kata sandbox's shim (kata.sandboxRoots) on kata.metricsInterval and\n" +
        "serves them aggregated like kata-monitor, with cAdvisor-style series, pod labels from\n" +
        "the CRI runtime. Serves /, /metrics, /sandboxes, /cores, /healthz and /readyz on\n" +
        "server.listenAddress. Stops on SIGTERM or SIGINT.",
    )
    // Settings: the configuration loader reads their kata-monitor environment variables
    // and parses their values, so that every source of a key accepts the same text.
    .option(
      "--listen-address <host:port>",
      "where to serve HTTP (default: server.listenAddress, 127.0.0.1:8090; env: KATA_PULSE_LISTEN)",
    )
    .option(
      "--runtime-endpoint <path>",
      "CRI runtime socket (default: kata.runtimeEndpoint, /run/containerd/containerd.sock; env: RUNTIME_ENDPOINT)",
    )
    .option(
      "--metrics-interval-secs <n>",
      "seconds between shim scrapes, or a duration like 30s (default: kata.metricsInterval, 60; env: KATA_PULSE_METRICS_INTERVAL)",
    )
    .option("--node-name <name>", "this node (default: nodeName; env: NODE_NAME)")
    .option("--state-dir <dir>", "state database directory (default: stateDir, /var/lib/agent)")
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .action(async (options) => {
      const config = await context.config({
        "server.listenAddress": flag("--listen-address", options.listenAddress),
        nodeName: flag("--node-name", options.nodeName),
        stateDir: flag("--state-dir", options.stateDir),
        "kata.runtimeEndpoint": flag("--runtime-endpoint", options.runtimeEndpoint),
        "kata.metricsInterval": flag("--metrics-interval-secs", options.metricsIntervalSecs),
        "discovery.kubeconfig": flag("--kubeconfig", options.kubeconfig),
        "discovery.context": flag("--context", options.context),
      });
      const { runDaemon } = await later<typeof import("../daemon/mod.ts")>("../daemon/mod.ts");
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
  return examples(
    command,
    [
      "Run with a configuration file, as the DaemonSet does",
      "agent daemon --config /etc/agent/config.yaml",
    ],
    [
      "Serve on every interface, naming the node",
      "NODE_NAME=node-1 agent daemon --listen-address 0.0.0.0:8090",
    ],
  );
}
