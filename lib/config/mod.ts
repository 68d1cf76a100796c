/**
 * The agent's configuration: the zod schema with every key and its default, loading from
 * YAML, environment and flags (flag > env > file > default), and the units (durations,
 * byte sizes) its values are written in.
 *
 * @module
 */
export {
  type Config,
  type ConfigInput,
  configSchema,
  DEFAULTS,
  ENV_ALIASES,
  rustLogLevel,
} from "./schema.ts";
export { configKeys, envName, type FlagValue, loadConfig, type LoadConfigOptions } from "./load.ts";
export { formatBytes, parseBytes, parseDuration } from "../units.ts";
export { readBearerToken } from "./bearer_token.ts";
export {
  formatListenAddress,
  type ListenAddress,
  parseListenAddress,
  parseSocketEndpoint,
} from "./address.ts";
