/**
 * What every subcommand gets from the root command: the loaded configuration, a logger,
 * and the exit code it sets for `main.ts`.
 *
 * @module
 */
import { Option } from "@commander-js/extra-typings";
import type { Config, FlagValue } from "../lib/config/mod.ts";
import type { ExitCodeValue } from "../lib/errors.ts";
import { createLogger, type Logger } from "../lib/log.ts";
import type { KubeClient } from "../lib/kube/mod.ts";
import { later } from "./_later.ts";

/** Shared state of one CLI run. */
export interface CliContext {
  /** Exit code the command chose; `main.ts` exits with it. */
  exitCode: ExitCodeValue;
  /** Raises the exit code to `code` when that is the worse outcome. */
  fail(code: ExitCodeValue): void;
  /**
   * Loads the configuration with the root command's global options and `flags` (by key path,
   * see {@linkcode flag}), which the configuration schema parses like every other source.
   */
  config(flags?: Record<string, FlagValue | undefined>): Promise<Config>;
  /** The logger, configured once the configuration is loaded. */
  log(): Logger;
  /**
   * Loads the configuration with `--kubeconfig` and `--context` and returns a client for the
   * cluster they name (the Kubernetes modules are loaded only here).
   */
  kube(
    flags: { kubeconfig?: string; context?: string },
  ): Promise<{ config: Config; client: KubeClient; namespace: string }>;
}

/** Global options of the root command. */
export interface GlobalOptions {
  config?: string;
  logLevel?: string;
  logFormat?: string;
}

/** Creates the context; `globals` is read when the first command loads the configuration. */
export function createContext(globals: () => GlobalOptions): CliContext {
  let logger: Logger | undefined;
  const context: CliContext = {
    exitCode: 0,
    fail(code) {
      if (code > context.exitCode) context.exitCode = code;
    },
    async config(flags = {}) {
      const { config: file, logLevel, logFormat } = globals();
      // Loaded with the first command that needs it: zod is a fifth of the start-up of the
      // commands that do not (help, usage errors).
      const { loadConfig } = await later<typeof import("../lib/config/mod.ts")>(
        "../lib/config/mod.ts",
      );
      const config = await loadConfig({
        file,
        args: {
          logLevel: flag("--log-level", logLevel),
          logFormat: flag("--log-format", logFormat),
          ...flags,
        },
      });
      logger = createLogger({ level: config.logLevel, format: config.logFormat });
      return config;
    },
    async kube(flags) {
      const config = await context.config({
        "discovery.kubeconfig": flag("--kubeconfig", flags.kubeconfig),
        "discovery.context": flag("--context", flags.context),
      });
      const { KubeClient, loadKubeTarget } = await later<typeof import("../lib/kube/mod.ts")>(
        "../lib/kube/mod.ts",
      );
      const target = await loadKubeTarget({
        kubeconfig: config.discovery.kubeconfig || undefined,
        context: config.discovery.context || undefined,
      });
      for (const warning of target.warnings ?? []) context.log().warn(warning);
      return { config, client: new KubeClient(target), namespace: target.namespace };
    },
    log() {
      if (!logger) {
        const { logLevel, logFormat } = globals();
        const level = logLevel === "debug" ? "debug" : "info";
        logger = createLogger({ level, format: logFormat === "json" ? "json" : "text" });
      }
      return logger;
    },
  };
  return context;
}

/**
 * A flag that sets a configuration key, for {@linkcode CliContext.config}: its text goes to
 * the configuration loader as typed (commander parses nothing of it), so that the flag, the
 * environment variable and the file accept the same values and report them the same way.
 *
 * @example Usage
 * ```ts ignore
 * await context.config({ "server.listenAddress": flag("--listen-address", options.listenAddress) });
 * ```
 */
export function flag(name: string, value: string | boolean | undefined): FlagValue | undefined {
  return value === undefined ? undefined : { flag: name, value };
}

/** `--kubeconfig`, as every command that reaches the cluster offers it. */
export function kubeconfigOption(): Option<"--kubeconfig <file>"> {
  return new Option(
    "--kubeconfig <file>",
    "kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)",
  );
}

/** `--context`, as every command that reaches the cluster offers it. */
export function contextOption(): Option<"--context <name>"> {
  return new Option("--context <name>", "kubeconfig context (default: its current-context)");
}
