/**
 * The `ai` configuration turned into what a request needs: the provider's URL (OpenAI's
 * `/chat/completions`, Azure's deployment and api-version shape, Anthropic's `/messages`),
 * the API key read from its environment variable or file, the model's prices and the limits.
 * The key is held in a closure: it is in no field that a log line or `JSON.stringify` could
 * show.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { ConfigError } from "../errors.ts";
import { readCapped } from "../io.ts";

/** Which wire format a provider speaks. */
export type Provider = Config["ai"]["provider"];

/** Prices in currency units per million tokens. */
export interface Price {
  input: number;
  output: number;
}

/** What the AI stage runs with. */
export interface AiSettings {
  provider: Provider;
  /** The whole request URL: base endpoint plus the provider's path (and Azure's query). */
  url: string;
  model: string;
  timeoutMs: number;
  maxInputTokens: number;
  maxOutputTokens: number;
  maxTokensPerAnalysis: number;
  maxCostPerMonth: number;
  maxAnalysisPerHour: number;
  /** Cores scoring below this are not explained. */
  minScore: number;
  price: Price;
  /** Whether an API key was found (its value is only in {@linkcode AiSettings.headers}). */
  hasKey: boolean;
  /** The request headers, the credential among them. */
  headers(): Record<string, string>;
}

/** The public endpoints used when `ai.endpoint` is empty. */
const DEFAULT_ENDPOINTS: Record<Provider, string | undefined> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com/v1",
  // An Azure resource has its own name: there is no default.
  azure: undefined,
};

/** The Messages API version Anthropic's answers are parsed for. */
export const ANTHROPIC_VERSION = "2023-06-01";

/** The most an API key file may hold: a key is a line, not a file to read whole. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * The request URL for a provider: `{endpoint}/chat/completions` (OpenAI and compatible
 * servers: vLLM, Ollama), `{endpoint}/messages` (Anthropic), and for Azure OpenAI
 * `{endpoint}/openai/deployments/{model}/chat/completions?api-version={apiVersion}`, where
 * `ai.model` names the deployment; an endpoint that already ends in the deployment's path is
 * taken as it is.
 *
 * @example Usage
 * ```ts
 * requestUrl("azure", "https://res.openai.azure.com", "gpt4o-prod", "2024-10-21");
 * // "https://res.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
 * ```
 */
export function requestUrl(
  provider: Provider,
  endpoint: string,
  model: string,
  apiVersion: string,
): string {
  const base = endpoint.replace(/\/+$/, "");
  switch (provider) {
    case "anthropic":
      return `${base}/messages`;
    case "azure": {
      const deployment = /\/openai\/deployments\/[^/]+$/.test(base)
        ? base
        : `${base}/openai/deployments/${encodeURIComponent(model)}`;
      return `${deployment}/chat/completions?api-version=${encodeURIComponent(apiVersion)}`;
    }
    default:
      return `${base}/chat/completions`;
  }
}

/**
 * The price of `model` from `ai.prices`, or `undefined` when it has none.
 *
 * @example Usage
 * ```ts
 * priceOf([{ model: "gpt-4o", input: 2.5, output: 10 }], "gpt-4o"); // { input: 2.5, output: 10 }
 * ```
 */
export function priceOf(prices: Config["ai"]["prices"], model: string): Price | undefined {
  const found = prices.find((p) => p.model === model);
  return found ? { input: found.input, output: found.output } : undefined;
}

/** What reading the settings needs besides the configuration. */
export interface SettingsSources {
  /** Reads an environment variable; default `Deno.env.get`. */
  env?: (name: string) => string | undefined;
}

/**
 * Checks the `ai` section and reads the API key. `ai.enabled` is not looked at: the command
 * line asks for an explanation with `--ai` whatever it says.
 *
 * @throws {ConfigError} when the model or endpoint is missing, the model has no price while
 * a monthly cost limit is set, or the key file cannot be read.
 *
 * @example Usage
 * ```ts ignore
 * const settings = await aiSettings(config);
 * settings.url; // "https://api.openai.com/v1/chat/completions"
 * ```
 */
export async function aiSettings(
  config: Pick<Config, "ai" | "analyzer">,
  sources: SettingsSources = {},
): Promise<AiSettings> {
  const ai = config.ai;
  const problems: string[] = [];
  if (!ai.model) {
    problems.push(
      ai.provider === "azure"
        ? "ai.model: expected the Azure deployment's name"
        : "ai.model: expected the model's name",
    );
  }
  const endpoint = ai.endpoint || DEFAULT_ENDPOINTS[ai.provider];
  if (!endpoint) {
    problems.push(
      'ai.endpoint: expected the Azure OpenAI resource\'s URL, like "https://NAME.openai.azure.com"',
    );
  }
  if (ai.provider === "azure" && !ai.apiVersion) {
    problems.push('ai.apiVersion: expected Azure\'s api-version, like "2024-10-21"');
  }
  const price = priceOf(ai.prices, ai.model);
  if (!price && ai.model) {
    problems.push(
      `ai.prices: no price for model "${ai.model}" (add "${ai.model}=INPUT/OUTPUT", per million tokens; 0/0 for a server of your own): without it ai.maxCostPerMonth cannot be kept`,
    );
  }
  if (ai.maxOutputTokens >= ai.maxTokensPerAnalysis) {
    problems.push(
      `ai.maxTokensPerAnalysis: must be more than ai.maxOutputTokens (${ai.maxOutputTokens}), got ${ai.maxTokensPerAnalysis}`,
    );
  }
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration for AI analysis: ${problems.join("; ")}`);
  }
  const key = await readKey(ai, sources.env ?? ((name) => Deno.env.get(name)));
  const provider = ai.provider;
  return {
    provider,
    url: requestUrl(provider, endpoint!, ai.model, ai.apiVersion),
    model: ai.model,
    timeoutMs: ai.timeout,
    maxInputTokens: ai.maxInputTokens,
    maxOutputTokens: ai.maxOutputTokens,
    maxTokensPerAnalysis: ai.maxTokensPerAnalysis,
    maxCostPerMonth: ai.maxCostPerMonth,
    maxAnalysisPerHour: ai.maxAnalysisPerHour,
    minScore: ai.minScore ?? config.analyzer.valueThreshold,
    price: price!,
    hasKey: key !== undefined,
    headers: () => headersFor(provider, key),
  };
}

function headersFor(provider: Provider, key: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json",
  };
  if (provider === "anthropic") headers["anthropic-version"] = ANTHROPIC_VERSION;
  if (key === undefined) return headers;
  if (provider === "anthropic") headers["x-api-key"] = key;
  else if (provider === "azure") headers["api-key"] = key;
  else headers["authorization"] = `Bearer ${key}`;
  return headers;
}

/**
 * The API key: from `ai.apiKeyFile` when set (a mounted Secret), else from the variable
 * `ai.apiKeyEnv` names; `undefined` when neither holds one (a server of your own may need
 * none). Surrounding whitespace, a file's final newline among it, is not part of the key.
 */
async function readKey(
  ai: Config["ai"],
  env: (name: string) => string | undefined,
): Promise<string | undefined> {
  if (ai.apiKeyFile) {
    let read: { bytes: Uint8Array; truncated: boolean };
    try {
      const file = await Deno.open(ai.apiKeyFile);
      if (!(await file.stat()).isFile) {
        file.close();
        throw new Deno.errors.IsADirectory("not a regular file");
      }
      read = await readCapped(file.readable, MAX_KEY_FILE_BYTES);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound
        ? "no such file"
        : error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : error instanceof Deno.errors.IsADirectory
        ? "not a regular file"
        : "cannot be read";
      throw new ConfigError(`Cannot read the API key file "${ai.apiKeyFile}": ${reason}`, {
        cause: error,
      });
    }
    if (read.truncated) {
      throw new ConfigError(`Cannot use the API key file "${ai.apiKeyFile}": larger than 64KiB`);
    }
    const key = new TextDecoder().decode(read.bytes).trim();
    if (!key || /[\r\n]/.test(key)) {
      throw new ConfigError(
        `Cannot use the API key file "${ai.apiKeyFile}": ${
          key ? "expected one line" : "it is empty"
        }`,
      );
    }
    return key;
  }
  if (!ai.apiKeyEnv) return undefined;
  const key = env(ai.apiKeyEnv)?.trim();
  return key ? key : undefined;
}
