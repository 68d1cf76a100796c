/**
 * The complete configuration schema. Every key is required in the schema: defaults live
 * in one place, {@linkcode DEFAULTS}, which the loader lays under the file, the
 * environment and the flags before validating.
 *
 * @module
 */
import { z } from "zod";
import { parseBytes, parseDuration } from "./units.ts";

/** Renders a rejected value for an error message. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value);
}

/** A string or number read by `parse`; `example` shows the expected form in errors. */
function parsed(parse: (text: string) => number | undefined, example: string) {
  const expected = `expected ${example}`;
  return z.union([z.string(), z.number()], { error: expected }).transform((value, ctx) => {
    const result = parse(String(value));
    if (result === undefined) {
      ctx.addIssue({ code: "custom", message: `${expected}, got ${show(value)}` });
      return z.NEVER;
    }
    return result;
  });
}

/** A duration ("30d", "1h30m", "500ms"; a bare number is seconds), parsed to milliseconds. */
const duration = () => parsed(parseDuration, 'a duration like "30d"');

/** A byte size ("50GB", "100MiB", or a number of bytes), parsed to bytes. */
const bytes = () => parsed(parseBytes, 'a size like "50GB"');

const score = () => z.number().min(0).max(10);
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
    rescanInterval: duration(),
    correlationWindow: duration(),
    concurrency: z.number().int().min(1).max(64),
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
    scoring,
  }),
  ai: z.strictObject({
    enabled: z.boolean(),
    endpoint: z.string(),
    model: z.string(),
    apiKeyEnv: z.string(),
    timeout: duration(),
    maxInputBytes: bytes(),
  }),
  storage: z.strictObject({
    backend: z.enum(["local", "nfs", "s3"]),
    compression: z.enum(["gzip", "zstd"]),
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
      interval: duration(),
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
    runtimeEndpoint: z.string().min(1),
    sandboxRoots: z.array(z.string().min(1)),
    metricsInterval: duration(),
    scrapeTimeout: duration(),
    scrapeConcurrency: z.number().int().min(1).max(256),
    maxResponseBytes: bytes(),
    criSyncInterval: duration(),
  }),
  server: z.strictObject({
    listenAddress: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]*):\d{1,5}$/, "expected HOST:PORT"),
    bearerTokenFile: z.string(),
    maxConnections: z.number().int().min(1).max(1_000_000),
    maxRequests: z.number().int().min(1).max(100_000),
    headerTimeout: duration().refine((ms) => ms > 0, "expected a duration over 0"),
    idleTimeout: duration().refine((ms) => ms > 0, "expected a duration over 0"),
  }),
});

/** The validated configuration: durations in milliseconds, sizes in bytes. */
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
      max: 10,
      stackTraceMinChars: 100,
      largeCoreBytes: "100MB",
      recentWithin: "1h",
    },
  },
  ai: {
    enabled: false,
    endpoint: "",
    model: "",
    apiKeyEnv: "AGENT_AI_API_KEY",
    timeout: "60s",
    maxInputBytes: "64KiB",
  },
  storage: {
    backend: "local",
    compression: "gzip",
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
};
