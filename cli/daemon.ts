/**
 * `agent daemon [--listen-address HOST:PORT] [--runtime-endpoint PATH]
 * [--metrics-interval-secs N] [--node-name N] [--state-dir D] ...`.
 *
 * @module
 */
import {
  Command,
  type CommandUnknownOpts,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { type CliContext, contextOption, kubeconfigOption } from "./_context.ts";

/** Builds the `daemon` command. */
export function daemonCommand(context: CliContext): CommandUnknownOpts {
  return new Command("daemon")
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
    .addOption(
      new Option(
        "--listen-address <host:port>",
        "where to serve HTTP (default: server.listenAddress, 127.0.0.1:8090)",
      ).env("KATA_PULSE_LISTEN"),
    )
    .addOption(
      new Option(
        "--runtime-endpoint <path>",
        "CRI runtime socket (default: kata.runtimeEndpoint, /run/containerd/containerd.sock)",
      ).env("RUNTIME_ENDPOINT"),
    )
    .addOption(
      new Option(
        "--metrics-interval-secs <n>",
        "seconds between shim scrapes (default: kata.metricsInterval, 60)",
      ).env("KATA_PULSE_METRICS_INTERVAL").argParser((text) => {
        if (!/^\d+$/.test(text) || Number(text) < 1) {
          throw new InvalidArgumentError("expected a whole number of seconds, at least 1");
        }
        return Number(text);
      }),
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
        "kata.runtimeEndpoint": options.runtimeEndpoint,
        "kata.metricsInterval": options.metricsIntervalSecs,
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
