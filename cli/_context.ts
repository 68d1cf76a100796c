/**
 * What every subcommand gets from the root command: the loaded configuration, a logger,
 * and the exit code it sets for `main.ts`.
 *
 * @module
 */
import { type Config, loadConfig } from "../lib/config/mod.ts";
import { createLogger, type Logger } from "../lib/log.ts";

/** Shared state of one CLI run. */
export interface CliContext {
  /** Exit code the command chose; `main.ts` exits with it. */
  exitCode: number;
  /** Loads the configuration once, with the root command's global options and `flags`. */
  config(flags?: Record<string, unknown>): Promise<Config>;
  /** The logger, configured once the configuration is loaded. */
  log(): Logger;
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
    async config(flags = {}) {
      const { config: file, logLevel, logFormat } = globals();
      const config = await loadConfig({
        file,
        flags: { logLevel, logFormat, ...flags },
      });
      logger = createLogger({ level: config.logLevel, format: config.logFormat });
      return config;
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
