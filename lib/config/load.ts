/**
 * Loads the configuration with the precedence flag > environment > file > default, and
 * turns every problem into one {@linkcode ConfigError} line naming the source, the key
 * path and the reason.
 *
 * @module
 */
import type { z } from "zod";
import { ConfigError, errorMessage } from "../errors.ts";
import {
  type Config,
  configSchema,
  DEFAULTS,
  ENV_ALIAS_VALUES,
  ENV_ALIASES,
  isSecretKey,
  show,
} from "./schema.ts";

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** YAML file (`--config`); none means defaults, environment and flags only. */
  file?: string;
  /** Reads an environment variable; default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
  /**
   * Values from command-line flags, by dotted key path (`analyzer.gdbPath`), as typed: they
   * are read like environment values and validated by the schema, never parsed before.
   */
  args?: Record<string, FlagValue | undefined>;
  /** Values set by code (tests, embedding), by dotted key path, in the schema's input types. */
  flags?: Record<string, unknown>;
}

/**
 * A setting given on the command line: the text as typed (or `true`/`false` for a switch) and
 * the flag, which messages name.
 */
export interface FlagValue {
  flag: string;
  value: string | boolean;
}

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Returns every leaf key of the configuration with its default, in declaration order.
 *
 * @example Usage
 * ```ts
 * configKeys().find(([key]) => key === "analyzer.gdbPath"); // ["analyzer.gdbPath", "gdb"]
 * ```
 */
export function configKeys(tree: Tree = DEFAULTS as Tree, prefix = ""): [string, unknown][] {
  return Object.entries(tree).flatMap(([key, value]) =>
    isTree(value)
      ? configKeys(value, `${prefix}${key}.`)
      : [[`${prefix}${key}`, value] as [string, unknown]]
  );
}

/**
 * The environment variable for a key: `AGENT_` and the path in upper snake case.
 *
 * @example Usage
 * ```ts
 * envName("storage.retention.maxAge"); // "AGENT_STORAGE_RETENTION_MAX_AGE"
 * ```
 */
export function envName(key: string): string {
  return "AGENT_" +
    key.split(".").map((part) => part.replace(/([a-z0-9])([A-Z])/g, "$1_$2")).join("_")
      .toUpperCase();
}

/**
 * Loads and validates the configuration.
 *
 * @throws {ConfigError} when the file cannot be read or parsed, or a value is invalid.
 *
 * @example Usage
 * ```ts ignore
 * const config = await loadConfig({ file: "/etc/agent/config.yaml" });
 * config.analyzer.valueThreshold; // 7
 * ```
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  try {
    return await load(options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // Whatever else a reader or parser throws (a library's own limits included) is still a
    // bad configuration, not a bug of the agent: exit code 2 with the file named.
    const where = options.file === undefined ? "" : ` "${options.file}"`;
    throw new ConfigError(`Invalid configuration${where}: ${firstLine(error)}`, { cause: error });
  }
}

async function load(options: LoadConfigOptions): Promise<Config> {
  const sources = new Map<string, string>();
  const fileTree = options.file === undefined ? {} : await readYaml(options.file);
  const tree = merge(structuredClone(DEFAULTS) as Tree, fileTree);
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  for (const [key, fallback] of configKeys()) {
    for (const name of [envName(key), ENV_ALIASES[key]]) {
      const raw = name === undefined ? undefined : env(name);
      if (raw === undefined || raw === "") continue;
      setPath(tree, key, fromEnv(ENV_ALIAS_VALUES[name!]?.(raw) ?? raw, fallback));
      sources.set(key, name!);
      break;
    }
  }
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue;
    setPath(tree, key, value);
    sources.set(key, `flag for ${key}`);
  }
  const defaults = new Map(configKeys());
  for (const [key, given] of Object.entries(options.args ?? {})) {
    if (given === undefined) continue;
    const { value } = given;
    setPath(tree, key, typeof value === "string" ? fromEnv(value, defaults.get(key)) : value);
    sources.set(key, given.flag);
  }
  const result = configSchema.safeParse(tree, { reportInput: true });
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => describeIssue(issue, sources));
  const where = options.file === undefined ? "" : ` "${options.file}"`;
  throw new ConfigError(`Invalid configuration${where}: ${problems.join("; ")}`);
}

/**
 * The most a configuration file may hold. Far above any real one; it keeps a mistaken path
 * (`/dev/zero`, a core, a log) from being read whole into memory.
 */
const MAX_CONFIG_BYTES = 1 << 20;

/** A file refused before it was parsed; the message is the reason. */
class Refused extends Error {}

async function readText(file: string): Promise<string> {
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(file);
    if ((await handle.stat()).isDirectory) throw new Refused("is a directory");
    const chunks: Uint8Array[] = [];
    let size = 0;
    // A pipe (`--config <(...)`) has no size to check first: read up to one byte past the cap.
    for await (const chunk of handle.readable) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > MAX_CONFIG_BYTES) throw new Refused("larger than 1MiB");
    }
    handle = undefined;
    return new TextDecoder().decode(concat(chunks, size));
  } catch (error) {
    const reason = error instanceof Refused
      ? error.message
      : error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Deno.errors.IsADirectory
      ? "is a directory"
      : firstLine(error);
    throw new ConfigError(`Cannot read configuration "${file}": ${reason}`, { cause: error });
  } finally {
    // `readable` closes the file when it ends; only an early exit leaves it open.
    try {
      handle?.close();
    } catch {
      // Already closed by the stream.
    }
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

async function readYaml(file: string): Promise<Tree> {
  const text = await readText(file);
  // Loaded only when a file is given: it is a tenth of the start-up time of every command.
  const { parseDocument } = await import("yaml");
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = document.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    const position = at ? ` at line ${at.line}, column ${at.col}` : "";
    throw new ConfigError(
      `Invalid configuration "${file}": YAML error${position}: ${yamlReason(error.message)}`,
    );
  }
  let value: unknown;
  try {
    value = document.toJS();
  } catch (cause) {
    // `yaml` refuses documents whose aliases expand past its limit ("billion laughs").
    throw new ConfigError(`Invalid configuration "${file}": YAML error: ${firstLine(cause)}`, {
      cause,
    });
  }
  if (value === null || value === undefined) return {};
  if (!isTree(value)) {
    throw new ConfigError(
      `Invalid configuration "${file}": expected a mapping of keys at the top level`,
    );
  }
  return value;
}

/**
 * The reason of a YAML error without the text it quotes: `yaml` adds the offending source
 * after a colon (`Unexpected scalar token in YAML stream: "SendEnv LANG LC_*"`), and the file
 * may be anything but a configuration (`--config /etc/ssh/ssh_config`): the position is
 * enough to find it.
 */
function yamlReason(message: string): string {
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "").split(/: |"/)[0]!
    .trim();
}

function firstLine(error: unknown): string {
  return (errorMessage(error)).split("\n")[0]!.trim();
}

function merge(base: Tree, over: Tree): Tree {
  for (const [key, value] of Object.entries(over)) {
    const current = base[key];
    base[key] = isTree(current) && isTree(value) ? merge(current, value) : value;
  }
  return base;
}

function setPath(tree: Tree, key: string, value: unknown): void {
  const parts = key.split(".");
  let node = tree;
  for (const part of parts.slice(0, -1)) {
    if (!isTree(node[part])) node[part] = {};
    node = node[part] as Tree;
  }
  node[parts.at(-1)!] = value;
}

/** Converts an environment or flag string to the type of the key's default. */
function fromEnv(raw: string, fallback: unknown): unknown {
  if (Array.isArray(fallback)) {
    return raw.split(",").map((s) => s.trim()).filter(Boolean).map((s) =>
      typeof fallback[0] === "number" && /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s
    );
  }
  if (typeof fallback === "number" && /^-?\d+(\.\d+)?$/.test(raw.trim())) return Number(raw);
  if (typeof fallback === "boolean") {
    const lower = raw.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(lower)) return true;
    if (["false", "0", "no", "off"].includes(lower)) return false;
  }
  return raw;
}

/**
 * Unknown keys are named only when they look like a key someone meant to write: a file that
 * is not a configuration (`--config /etc/shadow` parses as a mapping whose keys are its
 * lines) must not be echoed back, while a misspelt `gdbPth` is worth naming.
 */
const KEY_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** Unknown key names listed at most; the rest are counted. */
const MAX_UNKNOWN_SHOWN = 10;

function describeIssue(issue: z.core.$ZodIssue, sources: Map<string, string>): string {
  const key = issue.path.map(String).join(".");
  const source = sources.get(key);
  const where = `${key || "(top level)"}${source ? ` (from ${source})` : ""}`;
  const got = (input: unknown) =>
    isSecretKey(key) ? `got ${kind(input)} (not shown: a secret)` : `got ${show(input)}`;
  switch (issue.code) {
    case "unrecognized_keys":
      return unknownKeys(key, issue.keys);
    case "invalid_type":
      return `${where}: expected ${article(issue.expected)}, ${got(issue.input)}`;
    case "invalid_value":
      return `${where}: expected one of ${issue.values.map((v) => show(v)).join(", ")}, ${
        got(issue.input)
      }`;
    case "too_small":
      return `${where}: must be at least ${issue.minimum}${
        typeof issue.input === "string" ? " characters" : ""
      }, ${got(issue.input)}`;
    case "too_big":
      return `${where}: must be at most ${issue.maximum}, ${got(issue.input)}`;
    case "invalid_union":
    case "invalid_format":
    case "custom":
      return `${where}: ${issue.message}, ${got(issue.input)}`;
    default:
      return `${where}: ${issue.message}`;
  }
}

function unknownKeys(parent: string, keys: string[]): string {
  const prefix = parent ? `${parent}.` : "";
  const at = parent || "(top level)";
  const named = keys.filter((k) => KEY_NAME.test(k));
  const problems = named.slice(0, MAX_UNKNOWN_SHOWN).map((k) => `${prefix}${k}: unknown key`);
  const more = named.length - problems.length;
  if (more > 0) problems.push(`${at}: ${more} more unknown ${more === 1 ? "key" : "keys"}`);
  const hidden = keys.length - named.length;
  if (hidden > 0) {
    problems.push(
      `${at}: ${hidden} unknown ${hidden === 1 ? "key" : "keys"} not shown (not key names)`,
    );
  }
  return problems.join("; ");
}

/** What a hidden value is, without any of it. */
function kind(value: unknown): string {
  if (typeof value === "string") return "a string";
  if (typeof value === "number") return "a number";
  if (typeof value === "boolean") return "true or false";
  return show(value);
}

function article(type: string): string {
  const names: Record<string, string> = {
    string: "a string",
    number: "a number",
    boolean: "true or false",
    array: "a list",
    object: "a mapping",
    int: "an integer",
  };
  return names[type] ?? type;
}
