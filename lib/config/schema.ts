/**
 * The complete configuration schema. Every key is required in the schema: defaults live
 * in one place, {@linkcode DEFAULTS}, which the loader lays under the file, the
 * environment and the flags before validating.
 *
 * @module
 */
import { z } from "zod";
import { DETECTOR_NAMES, parseSeriesRule, SERIES_RULE_NAMES } from "../anomaly/mod.ts";
import { DEFAULT_CPU_FLAGS, NODE_COLLECTOR_NAMES } from "../node/mod.ts";
import { redactUrls } from "../redact.ts";
import { parseListenAddress, parseSocketEndpoint } from "./address.ts";
import { parseBytes, parseDuration } from "../units.ts";

/** Shown strings are cut here: a message is one line, not a copy of the input. */
const SHOW_MAX_CHARS = 80;

/**
 * Renders a rejected value for an error message: strings quoted, cut at 80 characters, with
 * the credentials of any URL in them hidden; other values by their kind.
 *
 * @example Usage
 * ```ts
 * show("https://agent:s3cret@minio:9000"); // '"https://***@minio:9000"'
 * show([1, 2]); // "a list"
 * ```
 */
export function show(value: unknown): string {
  if (typeof value === "string") {
    const text = redactUrls(value);
    return text.length > SHOW_MAX_CHARS
      ? `${JSON.stringify(text.slice(0, SHOW_MAX_CHARS))}\u2026 (${text.length} characters)`
      : JSON.stringify(text);
  }
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/**
 * Names of keys whose values are credentials: a secret, a password, a token (not a count of
 * tokens: `ai.maxOutputTokens`), an API key.
 */
const SECRET_NAME = /secret|passw(or)?d|token(?!s)|api_?key|access_?key|credential|private_?key/i;

/**
 * Names of keys that say where a secret is (a file, a variable, a Secret object), not the
 * secret itself.
 */
const SECRET_POINTER = /(File|Env|Path|Ref)$/;

/**
 * Whether the value of `key` is a credential that no message may show. Decided by the key's
 * name, so that a key added later is covered without a list to keep; of today's keys:
 * `storage.s3.accessKeyId` and `storage.s3.secretAccessKey` (not `server.bearerTokenFile`
 * or `ai.apiKeyEnv`, which name where the secret is).
 *
 * @example Usage
 * ```ts
 * isSecretKey("storage.s3.secretAccessKey"); // true
 * isSecretKey("server.bearerTokenFile"); // false
 * ```
 */
export function isSecretKey(key: string): boolean {
  const name = key.split(".").at(-1) ?? "";
  return SECRET_NAME.test(name) && !SECRET_POINTER.test(name);
}

/** Bounds of a parsed value, each with how it is written in the error message. */
interface Limits {
  min?: [number, string];
  max?: [number, string];
}

/** A string or number read by `parse`; `example` shows the expected form in errors. */
function parsed(parse: (text: string) => number | undefined, example: string, limits: Limits) {
  const expected = `expected ${example}`;
  return z.union([z.string(), z.number()], { error: expected }).transform((value, ctx) => {
    const result = parse(String(value));
    const problem = result === undefined
      ? expected
      : limits.min && !(result >= limits.min[0])
      ? `must be at least ${limits.min[1]}`
      : limits.max && !(result <= limits.max[0])
      ? `must be at most ${limits.max[1]}`
      : undefined;
    if (problem !== undefined) {
      // The loader adds the value (or hides it, for a secret): it knows the key.
      ctx.addIssue({ code: "custom", message: problem, input: value });
      return z.NEVER;
    }
    return result!;
  });
}

/**
 * The longest duration accepted. Beyond it a value is a typo or an attempt at "never", and
 * it would overflow date arithmetic (`now - maxAge`) long before it overflowed a number.
 */
export const MAX_DURATION_MS = 36_525 * 86_400_000;

/**
 * A duration ("30d", "1h30m", "500ms"; a bare number is seconds), parsed to milliseconds,
 * at most 100 years; `min` for the loops a zero would spin.
 */
const duration = (min?: [number, string]) =>
  parsed(parseDuration, 'a duration like "30d"', {
    ...(min ? { min } : {}),
    max: [MAX_DURATION_MS, '100 years ("36525d")'],
  });

/** A byte size ("50GB", "100MiB", or a number of bytes), parsed to bytes. */
const bytes = () =>
  parsed(parseBytes, 'a size like "50GB"', {
    // Past this, byte counts are no longer exact integers.
    max: [Number.MAX_SAFE_INTEGER, "8PiB"],
  });

/** A string read by `parse` into what the agent uses; `expected` says what it takes. */
function parsedText<T>(parse: (text: string) => T | undefined, expected: string) {
  return z.string().transform((value, ctx) => {
    const result = parse(value);
    if (result === undefined) {
      ctx.addIssue({ code: "custom", message: expected, input: value });
      return z.NEVER;
    }
    return result;
  });
}

/** More than nothing: a loop waiting 0 ms would run without pause. */
const NONZERO: [number, string] = [1, "1ms"];

const score = () => z.number().min(0).max(10);

/** A score, or `null` for a default taken from another key; a number as text (environment) too. */
const optionalScore = () =>
  z.union([
    score(),
    z.null(),
    z.string().regex(/^\d+(\.\d+)?$/, "expected a number from 0 to 10 or null")
      .transform(Number).pipe(score()),
  ], { error: "expected a number from 0 to 10 or null" });

/**
 * A model's prices in currency units per million input and output tokens: a mapping
 * `{model, input, output}`, or the text `model=input/output` (the form lists take in the
 * environment: `gpt-4o=2.5/10`).
 */
const modelPrice = () => {
  const price = z.strictObject({
    model: z.string().min(1),
    input: z.number().min(0),
    output: z.number().min(0),
  });
  return z.union([
    price,
    z.string().transform((text, ctx) => {
      const match = /^(.+)=(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(text.trim());
      if (!match) {
        ctx.addIssue({
          code: "custom",
          message: 'expected "model=input/output" (prices per million tokens)',
          input: text,
        });
        return z.NEVER;
      }
      return { model: match[1]!, input: Number(match[2]), output: Number(match[3]) };
    }),
  ], { error: 'expected {model, input, output} or "model=input/output"' });
};
const weight = () => z.number().min(0).max(10);
const labelSelector = () =>
  z.string().regex(
    /^[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?$/,
    'expected a label like "key=value" or "key"',
  );

const scoring = z.strictObject({
  base: weight(),
  crashReason: weight(),
  panicKeywords: weight(),
  stackTrace: weight(),
  multipleThreads: weight(),
  podAssociation: weight(),
  fatalSignal: weight(),
  largeCore: weight(),
  recentCrash: weight(),
  sentByOtherProcess: weight(),
  knownCrashGroup: weight(),
  noSymbols: weight(),
  max: score(),
  stackTraceMinChars: z.number().int().min(0),
  largeCoreBytes: bytes(),
  recentWithin: duration(),
});

/** The configuration schema (zod). */
export const configSchema = z.strictObject({
  logLevel: z.enum(["debug", "info", "warn", "error"]),
  logFormat: z.enum(["text", "json"]),
  stateDir: z.string().min(1),
  nodeName: z.string(),
  discovery: z.strictObject({
    kubeconfig: z.string(),
    context: z.string(),
    namespaces: z.array(z.string()),
    excludeNamespaces: z.array(z.string()),
    helmSelectors: z.array(labelSelector()),
    helmChartPrefix: z.string(),
    operatorSelectors: z.array(labelSelector()),
    instanceLabels: z.array(z.string().min(1)),
    resyncInterval: duration(),
  }),
  collector: z.strictObject({
    paths: z.array(z.string().min(1)),
    fileNamePatterns: z.array(z.string().min(1)),
    settleInterval: duration(),
    rescanInterval: duration(NONZERO),
    correlationWindow: duration(),
    concurrency: z.number().int().min(1).max(64),
    bundleMaxBytes: bytes(),
  }),
  analyzer: z.strictObject({
    useGdb: z.boolean(),
    gdbPath: z.string().min(1),
    gdbTimeout: duration(),
    gdbMaxOutput: bytes(),
    maxNoteBytes: bytes(),
    tempDir: z.string(),
    valueThreshold: score(),
    panicKeywords: z.array(z.string().min(1)),
    fatalSignals: z.array(z.number().int().min(1).max(64)),
    concurrency: z.number().int().min(1).max(64),
    debuginfodUrls: z.array(
      z.string().regex(
        /^https?:\/\/[^\s/]+(\/\S*)?$/,
        'expected a URL like "https://debuginfod.example.com"',
      ),
    ),
    debuginfodTimeout: duration(NONZERO),
    debuginfodCacheMaxBytes: bytes(),
    scoring,
  }),
  ai: z.strictObject({
    enabled: z.boolean(),
    provider: z.enum(["openai", "azure", "anthropic"]),
    endpoint: z.string().regex(
      /^(https?:\/\/[^\s/?#]+(\/[^\s?#]*)?)?$/,
      'expected a URL like "https://api.openai.com/v1"',
    ),
    model: z.string(),
    apiVersion: z.string().regex(/^[\w.-]*$/, 'expected a version like "2024-10-21"'),
    apiKeyEnv: z.string().regex(/^([A-Za-z_][A-Za-z0-9_]*)?$/, "expected a variable name"),
    apiKeyFile: z.string(),
    timeout: duration(NONZERO),
    maxInputTokens: z.number().int().min(1000).max(2_000_000),
    maxOutputTokens: z.number().int().min(64).max(200_000),
    maxTokensPerAnalysis: z.number().int().min(1),
    maxCostPerMonth: z.number().min(0),
    maxAnalysisPerHour: z.number().int().min(0),
    minScore: optionalScore(),
    prices: z.array(modelPrice()),
  }),
  storage: z.strictObject({
    backend: z.enum(["local", "nfs", "s3"]),
    compression: z.enum(["gzip", "zstd"]),
    compressionWorkers: z.number().int().min(1).max(16),
    deleteOriginal: z.boolean(),
    maxPerGroup: z.number().int().min(0),
    local: z.strictObject({ path: z.string().min(1) }),
    nfs: z.strictObject({ path: z.string() }),
    s3: z.strictObject({
      endpoint: z.string(),
      region: z.string(),
      bucket: z.string(),
      prefix: z.string(),
      accessKeyId: z.string(),
      secretAccessKey: z.string(),
      forcePathStyle: z.boolean(),
      partSize: bytes(),
    }),
    retention: z.strictObject({
      maxAge: duration(),
      maxBytes: bytes(),
      minFreeBytes: bytes(),
      interval: duration(NONZERO),
    }),
  }),
  cleaner: z.strictObject({
    enabled: z.boolean(),
    dryRun: z.boolean(),
    maxRestartCount: z.number().int().min(1),
    restartTimeWindow: duration(),
    cleanupDelay: duration(),
    uninstallTimeout: duration(),
    helmBinary: z.string(),
    allowNamespaces: z.array(z.string()),
    denyNamespaces: z.array(z.string()),
  }),
  kata: z.strictObject({
    enabled: z.boolean(),
    runtimeEndpoint: parsedText(parseSocketEndpoint, "expected a socket path or unix:///path"),
    sandboxRoots: z.array(z.string().min(1)),
    // At least a second, as KataPulse's KATA_PULSE_METRICS_INTERVAL (whole seconds) allowed.
    metricsInterval: duration([1000, "1s"]),
    scrapeTimeout: duration(),
    scrapeConcurrency: z.number().int().min(1).max(256),
    maxResponseBytes: bytes(),
    criSyncInterval: duration(NONZERO),
  }),
  node: z.strictObject({
    collectors: z.array(z.enum(["all", ...NODE_COLLECTOR_NAMES] as [string, ...string[]])),
    procPath: z.string().min(1),
    sysPath: z.string().min(1),
    devPath: z.string().min(1),
    rootfsPath: z.string().min(1),
    // Each is two series; 0 turns the top processes off.
    topProcesses: z.number().int().min(0).max(1000),
    cpuFlags: z.array(z.string().regex(/^[a-z0-9_]+$/, "expected a flag of /proc/cpuinfo")),
    interval: duration(NONZERO),
    kmsgBufferRecords: z.number().int().min(1).max(1_000_000),
    commandTimeout: duration(NONZERO),
    nvidiaSmiPath: z.string().min(1),
  }),
  anomaly: z.strictObject({
    enabled: z.boolean(),
    interval: duration([1000, "1s"]),
    series: z.array(z.enum(["all", ...SERIES_RULE_NAMES] as [string, ...string[]])),
    rules: z.array(
      z.string().transform((text, ctx) => {
        try {
          return parseSeriesRule(text);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: (error as Error).message, input: text });
          return z.NEVER;
        }
      }),
    ),
    detector: z.enum(DETECTOR_NAMES as [string, ...string[]]),
    threshold: z.number().min(0).max(1),
    hold: duration(),
    maxSeries: z.number().int().min(1).max(1_000_000),
    saveInterval: duration(NONZERO),
    forecastHorizon: duration(NONZERO),
  }),
  processWatch: z.strictObject({
    enabled: z.boolean(),
    interval: duration([1000, "1s"]),
    patternsFile: z.string(),
    // Checked against the built-in patterns when the watch starts: lib/procwatch reads
    // cgroups through lib/collect, which reads this configuration.
    disable: z.array(z.string().min(1)),
  }),
  platform: z.strictObject({
    url: z.string().regex(
      /^(https?:\/\/[^\s/]+(\/\S*)?)?$/,
      'expected a URL like "https://platform.example.com"',
    ),
    clusterName: z.string().max(253),
    credentialsSecretRef: z.string().regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/,
      'expected "namespace/name" of a Secret',
    ),
    credentialsFile: z.string(),
    syncInterval: duration([1000, "1s"]),
    rateLimit: z.strictObject({
      eventsPerSecond: z.number().int().min(1).max(1000),
      burstSize: z.number().int().min(1).max(1000),
    }),
    bufferSize: z.number().int().min(1).max(1_000_000),
    transport: z.enum(["http", "grpc"]),
    grpcTarget: z.string().regex(
      /^(grpcs?:\/\/[^\s/:]+:\d{1,5})?$/,
      'expected "grpc://host:port" (plaintext) or "grpcs://host:port" (TLS)',
    ),
    graphPath: z.string(),
    agentConfig: z.string().regex(
      /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/,
      "expected the name of an AgentConfig",
    ),
    leaderElection: z.strictObject({
      namespace: z.string(),
      leaseName: z.string().regex(
        /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
        "expected a Kubernetes object name",
      ),
      leaseDuration: duration([1000, "1s"]),
      renewDeadline: duration([1000, "1s"]),
      retryPeriod: duration([100, "100ms"]),
    }).refine((l) => l.renewDeadline < l.leaseDuration, {
      message: "renewDeadline must be shorter than leaseDuration",
    }).refine((l) => l.retryPeriod < l.renewDeadline, {
      message: "retryPeriod must be shorter than renewDeadline",
    }),
  }).refine((p) => p.transport !== "grpc" || p.grpcTarget !== "", {
    message: 'transport "grpc" needs platform.grpcTarget',
    path: ["grpcTarget"],
  }),
  server: z.strictObject({
    listenAddress: parsedText(parseListenAddress, "expected HOST:PORT"),
    bearerTokenFile: z.string(),
    maxConnections: z.number().int().min(1).max(1_000_000),
    maxRequests: z.number().int().min(1).max(100_000),
    headerTimeout: duration().refine((ms) => ms > 0, "expected a duration over 0"),
    idleTimeout: duration().refine((ms) => ms > 0, "expected a duration over 0"),
  }),
});

/**
 * The validated configuration: durations in milliseconds, sizes in bytes, the listen address
 * as `{ hostname, port }`, the runtime endpoint as a socket path.
 */
export type Config = z.output<typeof configSchema>;

/** The configuration as written in YAML. */
export type ConfigInput = z.input<typeof configSchema>;

/** Every key's default, as it would be written in the YAML file. */
export const DEFAULTS: ConfigInput = {
  logLevel: "info",
  logFormat: "text",
  stateDir: "/var/lib/agent",
  nodeName: "",
  discovery: {
    kubeconfig: "",
    context: "",
    namespaces: [],
    excludeNamespaces: [],
    helmSelectors: ["app.kubernetes.io/name=milvus"],
    helmChartPrefix: "milvus",
    operatorSelectors: ["app.kubernetes.io/managed-by=milvus-operator"],
    instanceLabels: ["app.kubernetes.io/instance", "milvus.io/instance"],
    resyncInterval: "10m",
  },
  collector: {
    paths: ["/host/var/lib/systemd/coredump", "/host/var/crash"],
    fileNamePatterns: ["core.%e.%p.%s.%t.%h", "core.%h.%e.%p", "core.%p", "core"],
    settleInterval: "5s",
    rescanInterval: "1m",
    correlationWindow: "5m",
    concurrency: 2,
    bundleMaxBytes: "1GiB",
  },
  analyzer: {
    useGdb: true,
    gdbPath: "gdb",
    gdbTimeout: "2m",
    gdbMaxOutput: "16MiB",
    maxNoteBytes: "64MiB",
    tempDir: "",
    valueThreshold: 7.0,
    panicKeywords: ["panic", "fatal", "SIGSEGV", "SIGABRT", "SIGFPE", "assertion failed"],
    fatalSignals: [11, 6, 8],
    concurrency: 2,
    debuginfodUrls: [],
    debuginfodTimeout: "30s",
    debuginfodCacheMaxBytes: "2GiB",
    scoring: {
      base: 4.0,
      crashReason: 2.0,
      panicKeywords: 1.0,
      stackTrace: 1.5,
      multipleThreads: 0.5,
      podAssociation: 1.0,
      fatalSignal: 1.0,
      largeCore: 0.5,
      recentCrash: 0.5,
      sentByOtherProcess: 5.0,
      knownCrashGroup: 0.5,
      noSymbols: 1.0,
      max: 10,
      stackTraceMinChars: 100,
      largeCoreBytes: "100MB",
      recentWithin: "1h",
    },
  },
  ai: {
    enabled: false,
    provider: "openai",
    endpoint: "",
    model: "",
    apiVersion: "2024-10-21",
    apiKeyEnv: "AGENT_AI_API_KEY",
    apiKeyFile: "",
    timeout: "60s",
    maxInputTokens: 6000,
    maxOutputTokens: 1500,
    maxTokensPerAnalysis: 20000,
    maxCostPerMonth: 10,
    maxAnalysisPerHour: 10,
    minScore: null,
    prices: [],
  },
  storage: {
    backend: "local",
    compression: "gzip",
    compressionWorkers: 1,
    deleteOriginal: true,
    maxPerGroup: 5,
    local: { path: "/var/lib/agent/cores" },
    nfs: { path: "" },
    s3: {
      endpoint: "",
      region: "",
      bucket: "",
      prefix: "cores/",
      accessKeyId: "",
      secretAccessKey: "",
      forcePathStyle: true,
      partSize: "16MiB",
    },
    retention: { maxAge: "30d", maxBytes: "50GB", minFreeBytes: "1GB", interval: "1h" },
  },
  cleaner: {
    enabled: false,
    dryRun: false,
    maxRestartCount: 5,
    restartTimeWindow: "1h",
    cleanupDelay: "5m",
    uninstallTimeout: "10m",
    helmBinary: "",
    allowNamespaces: [],
    denyNamespaces: ["kube-system"],
  },
  kata: {
    enabled: true,
    runtimeEndpoint: "/run/containerd/containerd.sock",
    sandboxRoots: ["/run/vc/sbs", "/run/kata"],
    metricsInterval: "60s",
    scrapeTimeout: "3s",
    scrapeConcurrency: 8,
    maxResponseBytes: "16MiB",
    criSyncInterval: "5s",
  },
  node: {
    collectors: ["all"],
    procPath: "/proc",
    sysPath: "/sys",
    devPath: "/dev",
    rootfsPath: "/",
    topProcesses: 10,
    cpuFlags: [...DEFAULT_CPU_FLAGS],
    interval: "1s",
    kmsgBufferRecords: 1024,
    commandTimeout: "5s",
    nvidiaSmiPath: "nvidia-smi",
  },
  anomaly: {
    enabled: true,
    interval: "15s",
    series: ["all"],
    rules: [],
    detector: "ensemble",
    threshold: 0.5,
    hold: "10m",
    maxSeries: 2000,
    saveInterval: "5m",
    forecastHorizon: "6h",
  },
  processWatch: {
    enabled: true,
    interval: "30s",
    patternsFile: "",
    disable: [],
  },
  platform: {
    url: "",
    clusterName: "",
    credentialsSecretRef: "",
    credentialsFile: "",
    syncInterval: "5m",
    rateLimit: { eventsPerSecond: 10, burstSize: 20 },
    bufferSize: 1000,
    transport: "http",
    grpcTarget: "",
    graphPath: "",
    agentConfig: "",
    leaderElection: {
      namespace: "",
      leaseName: "agent-platform",
      leaseDuration: "15s",
      renewDeadline: "10s",
      retryPeriod: "2s",
    },
  },
  server: {
    listenAddress: "127.0.0.1:8090",
    bearerTokenFile: "",
    maxConnections: 256,
    maxRequests: 64,
    headerTimeout: "10s",
    idleTimeout: "60s",
  },
};

/** Environment variables kept from kata-monitor/KataPulse and Kubernetes, by config key. */
export const ENV_ALIASES: Record<string, string> = {
  "server.listenAddress": "KATA_PULSE_LISTEN",
  "kata.runtimeEndpoint": "RUNTIME_ENDPOINT",
  "kata.metricsInterval": "KATA_PULSE_METRICS_INTERVAL",
  "nodeName": "NODE_NAME",
  "discovery.kubeconfig": "KUBECONFIG",
  // KataPulse's (env_logger's) level, read by rustLogLevel().
  "logLevel": "RUST_LOG",
  // node_exporter's and cAdvisor's names for where the host's trees are mounted.
  "node.procPath": "HOST_PROC",
  "node.sysPath": "HOST_SYS",
  "node.devPath": "HOST_DEV",
  "node.rootfsPath": "HOST_ROOT",
  // The downward API's usual name for the pod's namespace.
  "platform.leaderElection.namespace": "POD_NAMESPACE",
};

/**
 * The agent's log level for a `RUST_LOG` value, as KataPulse reads it (env_logger): a level
 * (`info`), or directives (`katapulse=debug,hyper=warn`) whose bare level is the default,
 * else the most verbose one given. `trace` is `debug`, `off` is `error`; anything else comes
 * back as given, for the schema to reject with the variable named.
 *
 * @example Usage
 * ```ts
 * rustLogLevel("warn,katapulse=trace"); // "warn"
 * ```
 */
export function rustLogLevel(value: string): string {
  const LEVELS: Record<string, string> = {
    trace: "debug",
    debug: "debug",
    info: "info",
    warn: "warn",
    error: "error",
    off: "error",
  };
  const directives = value.split(",").map((d) => d.trim()).filter(Boolean);
  const bare = directives.find((d) => !d.includes("="));
  if (bare !== undefined) return LEVELS[bare.toLowerCase()] ?? value;
  const order = ["debug", "info", "warn", "error"];
  const levels = directives.map((d) => LEVELS[d.split("=")[1]!.trim().toLowerCase()])
    .filter((l) => l !== undefined);
  if (levels.length === 0) return value;
  return levels.sort((a, b) => order.indexOf(a) - order.indexOf(b))[0]!;
}

/** How an alias's value is read when it is not written like the key's own values. */
export const ENV_ALIAS_VALUES: Record<string, (value: string) => string> = {
  RUST_LOG: rustLogLevel,
};
