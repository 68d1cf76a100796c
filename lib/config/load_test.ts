import { parse } from "yaml";
import { ConfigError } from "../errors.ts";
import { assertEquals, assertRejects, assertStringIncludes } from "../../tests/support/assert.ts";
import { configKeys, DEFAULTS, envName, loadConfig } from "./mod.ts";
import { isSecretKey, MAX_DURATION_MS } from "./schema.ts";

async function withYaml<T>(text: string, fn: (path: string) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(path, text);
    return await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

const noEnv = () => undefined;

Deno.test("loadConfig() returns the defaults with durations and sizes parsed", async () => {
  const config = await loadConfig({ env: noEnv });
  assertEquals(config.analyzer.valueThreshold, 7);
  assertEquals(config.analyzer.gdbTimeout, 120_000);
  assertEquals(config.storage.retention.maxAge, 30 * 86_400_000);
  assertEquals(config.storage.retention.maxBytes, 50e9);
  assertEquals(config.cleaner.maxRestartCount, 5);
  assertEquals(config.server.listenAddress, { hostname: "127.0.0.1", port: 8090 });
});

Deno.test("loadConfig() applies flag > env > file > default", async () => {
  await withYaml(
    "analyzer:\n  gdbPath: /from/file\n  valueThreshold: 5\nstorage:\n  compression: zstd\n",
    async (file) => {
      const env = (name: string) =>
        ({ AGENT_ANALYZER_GDB_PATH: "/from/env", AGENT_ANALYZER_VALUE_THRESHOLD: "6" })[name];
      const config = await loadConfig({
        file,
        env,
        args: { "analyzer.gdbPath": { flag: "--gdb-path", value: "/from/flag" } },
      });
      assertEquals(config.analyzer.gdbPath, "/from/flag");
      assertEquals(config.analyzer.valueThreshold, 6);
      assertEquals(config.storage.compression, "zstd");
      assertEquals(config.storage.backend, "local");
    },
  );
});

Deno.test("loadConfig() reads flag text as it reads environment text and names the flag", async () => {
  const config = await loadConfig({
    env: noEnv,
    args: {
      "kata.metricsInterval": { flag: "--metrics-interval-secs", value: "5s" },
      "analyzer.valueThreshold": { flag: "--threshold", value: "8.5" },
      "analyzer.useGdb": { flag: "--no-gdb", value: false },
      "server.listenAddress": { flag: "--listen-address", value: "[::1]:9000" },
      "kata.runtimeEndpoint": { flag: "--runtime-endpoint", value: "unix:///run/crio/crio.sock" },
    },
  });
  assertEquals(config.kata.metricsInterval, 5000);
  assertEquals(config.analyzer.valueThreshold, 8.5);
  assertEquals(config.analyzer.useGdb, false);
  assertEquals(config.server.listenAddress, { hostname: "::1", port: 9000 });
  assertEquals(config.kata.runtimeEndpoint, "/run/crio/crio.sock");
  await assertRejects(
    () =>
      loadConfig({
        env: (name) => (name === "KATA_PULSE_METRICS_INTERVAL" ? "5s" : undefined),
        args: { "kata.metricsInterval": { flag: "--metrics-interval-secs", value: "0" } },
      }),
    ConfigError,
    'kata.metricsInterval (from --metrics-interval-secs): must be at least 1s, got "0"',
  );
});

Deno.test("loadConfig() reads kata-monitor and Kubernetes environment names", async () => {
  const env = (name: string) =>
    ({
      KATA_PULSE_LISTEN: "0.0.0.0:9000",
      RUNTIME_ENDPOINT: "/run/k3s/containerd/containerd.sock",
      KATA_PULSE_METRICS_INTERVAL: "30",
      NODE_NAME: "node-1",
      AGENT_KATA_SANDBOX_ROOTS: "/a, /b",
      AGENT_CLEANER_ENABLED: "yes",
    })[name];
  const config = await loadConfig({ env });
  assertEquals(config.server.listenAddress, { hostname: "0.0.0.0", port: 9000 });
  assertEquals(config.kata.runtimeEndpoint, "/run/k3s/containerd/containerd.sock");
  assertEquals(config.kata.metricsInterval, 30_000);
  assertEquals(config.nodeName, "node-1");
  assertEquals(config.kata.sandboxRoots, ["/a", "/b"]);
  assertEquals(config.cleaner.enabled, true);
});

Deno.test("loadConfig() names the key path and the problem", async () => {
  await withYaml("storage:\n  retention:\n    maxAge: x\n", async (file) => {
    await assertRejects(
      () => loadConfig({ file, env: noEnv }),
      ConfigError,
      `Invalid configuration "${file}": storage.retention.maxAge: expected a duration like "30d", got "x"`,
    );
  });
  await withYaml(
    "analyzer:\n  valueThreshold: 11\n  gdbPth: gdb\nlogFormat: xml\n",
    async (file) => {
      const error = await assertRejects(() => loadConfig({ file, env: noEnv }), ConfigError);
      assertEquals(
        error.message,
        `Invalid configuration "${file}": logFormat: expected one of "text", "json", got "xml"; ` +
          "analyzer.valueThreshold: must be at most 10, got 11; analyzer.gdbPth: unknown key",
      );
    },
  );
});

Deno.test("loadConfig() never shows the value of a secret key", async () => {
  await withYaml(
    "storage:\n  s3:\n    secretAccessKey: 987654321123\n    accessKeyId: [AKIA1234]\n",
    async (file) => {
      const error = await assertRejects(() => loadConfig({ file, env: noEnv }), ConfigError);
      assertEquals(
        error.message,
        `Invalid configuration "${file}": ` +
          "storage.s3.accessKeyId: expected a string, got a list (not shown: a secret); " +
          "storage.s3.secretAccessKey: expected a string, got a number (not shown: a secret)",
      );
    },
  );
});

Deno.test("isSecretKey() marks the credentials among the configuration keys", () => {
  assertEquals(configKeys().map(([key]) => key).filter(isSecretKey), [
    "storage.s3.accessKeyId",
    "storage.s3.secretAccessKey",
  ]);
  for (const key of ["ai.apiKey", "x.password", "x.sessionToken", "x.privateKey"]) {
    assertEquals(isSecretKey(key), true, key);
  }
  // A count of tokens is no credential: its bad values are shown.
  assertEquals(isSecretKey("ai.maxTokensPerAnalysis"), false);
});

Deno.test("loadConfig() hides URL credentials and cuts long values in messages", async () => {
  await withYaml(
    `logFormat: "https://agent:hunter2@example.com/x"\nlogLevel: "${"x".repeat(200)}"\n`,
    async (file) => {
      const error = await assertRejects(() => loadConfig({ file, env: noEnv }), ConfigError);
      assertEquals(
        error.message,
        `Invalid configuration "${file}": ` +
          `logLevel: expected one of "debug", "info", "warn", "error", got "${
            "x".repeat(80)
          }"… (200 characters); ` +
          'logFormat: expected one of "text", "json", got "https://***@example.com/x"',
      );
    },
  );
});

Deno.test("loadConfig() does not echo a file that is not a configuration", async () => {
  const shadow = [
    "root:$6$salt$hashhashhash:20228:0:99999:7:::",
    "daemon:*:20228:0:99999:7:::",
    "agent:$y$j9T$more$hash:20228:0:99999:7:::",
  ].join("\n");
  await withYaml(shadow + "\n", async (file) => {
    const error = await assertRejects(() => loadConfig({ file, env: noEnv }), ConfigError);
    assertEquals(
      error.message,
      `Invalid configuration "${file}": (top level): 3 unknown keys not shown (not key names)`,
    );
  });
  const sshConfig =
    "Host *\n#   ProxyCommand ssh -q -W %h:%p gw\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n";
  await withYaml(sshConfig, async (file) => {
    const error = await assertRejects(() => loadConfig({ file, env: noEnv }), ConfigError);
    assertEquals(
      error.message,
      `Invalid configuration "${file}": YAML error at line 3, column 5: Unexpected scalar token in YAML stream`,
    );
  });
  const many = Array.from({ length: 12 }, (_, i) => `key${i}: 1`).join("\n");
  await withYaml(`${many}\nanalyzer:\n  gdbPth: gdb\n  "a b": 1\n`, async (file) => {
    const error = await assertRejects(() => loadConfig({ file, env: noEnv }), ConfigError);
    assertEquals(
      error.message,
      `Invalid configuration "${file}": ` +
        "analyzer.gdbPth: unknown key; analyzer: 1 unknown key not shown (not key names); " +
        Array.from({ length: 10 }, (_, i) => `key${i}: unknown key; `).join("") +
        "(top level): 2 more unknown keys",
    );
  });
});

Deno.test("loadConfig() names the environment variable a bad value came from", async () => {
  await assertRejects(
    () =>
      loadConfig({ env: (n) => (n === "AGENT_STORAGE_RETENTION_MAX_BYTES" ? "lots" : undefined) }),
    ConfigError,
    'storage.retention.maxBytes (from AGENT_STORAGE_RETENTION_MAX_BYTES): expected a size like "50GB", got "lots"',
  );
});

Deno.test("loadConfig() accepts 30d timers and rejects durations past 100 years", async () => {
  const load = (vars: Record<string, string>) => loadConfig({ env: (name) => vars[name] });
  const config = await load({
    AGENT_ANALYZER_GDB_TIMEOUT: "30d",
    AGENT_STORAGE_RETENTION_INTERVAL: "36525d",
  });
  assertEquals(config.analyzer.gdbTimeout, 30 * 86_400_000);
  assertEquals(config.storage.retention.interval, MAX_DURATION_MS);
  await assertRejects(
    () => load({ AGENT_STORAGE_RETENTION_MAX_AGE: "36526d" }),
    ConfigError,
    'storage.retention.maxAge (from AGENT_STORAGE_RETENTION_MAX_AGE): must be at most 100 years ("36525d"), got "36526d"',
  );
  // Digits enough to be Infinity as a number.
  await assertRejects(
    () => load({ AGENT_ANALYZER_GDB_TIMEOUT: "9".repeat(400) }),
    ConfigError,
    "analyzer.gdbTimeout (from AGENT_ANALYZER_GDB_TIMEOUT): must be at most 100 years",
  );
  await assertRejects(
    () => load({ AGENT_STORAGE_RETENTION_MAX_BYTES: "9".repeat(400) }),
    ConfigError,
    "storage.retention.maxBytes (from AGENT_STORAGE_RETENTION_MAX_BYTES): must be at most 8PiB",
  );
});

Deno.test("loadConfig() rejects a zero interval for the loops it would spin", async () => {
  const error = await assertRejects(
    () =>
      loadConfig({
        env: (name) =>
          ({
            AGENT_STORAGE_RETENTION_INTERVAL: "0",
            AGENT_KATA_CRI_SYNC_INTERVAL: "0s",
            AGENT_COLLECTOR_RESCAN_INTERVAL: "0ms",
            KATA_PULSE_METRICS_INTERVAL: "0.5",
          })[name],
      }),
    ConfigError,
  );
  assertEquals(
    error.message,
    'Invalid configuration: collector.rescanInterval (from AGENT_COLLECTOR_RESCAN_INTERVAL): must be at least 1ms, got "0ms"; ' +
      'storage.retention.interval (from AGENT_STORAGE_RETENTION_INTERVAL): must be at least 1ms, got "0"; ' +
      'kata.metricsInterval (from KATA_PULSE_METRICS_INTERVAL): must be at least 1s, got "0.5"; ' +
      'kata.criSyncInterval (from AGENT_KATA_CRI_SYNC_INTERVAL): must be at least 1ms, got "0s"',
  );
});

Deno.test("loadConfig() reports YAML syntax errors with their position", async () => {
  await withYaml("storage:\n  retention: [\n", async (file) => {
    await assertRejects(
      () => loadConfig({ file, env: noEnv }),
      ConfigError,
      `"${file}": YAML error at line 3, column 1`,
    );
  });
  await withYaml("a: 1\na: 2\n", async (file) => {
    await assertRejects(
      () => loadConfig({ file, env: noEnv }),
      ConfigError,
      "Map keys must be unique",
    );
  });
  await withYaml("- just\n- a list\n", async (file) => {
    await assertRejects(
      () => loadConfig({ file, env: noEnv }),
      ConfigError,
      "expected a mapping of keys at the top level",
    );
  });
});

Deno.test("loadConfig() refuses a YAML alias bomb with one line naming the file", async () => {
  const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
  for (const name of "bcdefghi") {
    const previous = String.fromCharCode(name.charCodeAt(0) - 1);
    levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(", ")}]`);
  }
  await withYaml(levels.join("\n") + "\n", async (file) => {
    const error = await assertRejects(() => loadConfig({ file, env: noEnv }), ConfigError);
    assertEquals(
      error.message,
      `Invalid configuration "${file}": YAML error: Excessive alias count indicates a resource exhaustion attack`,
    );
  });
});

Deno.test("loadConfig() refuses directories and files past 1MiB without reading them whole", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => loadConfig({ file: dir, env: noEnv }),
      ConfigError,
      `Cannot read configuration "${dir}": is a directory`,
    );
  } finally {
    await Deno.remove(dir);
  }
  await assertRejects(
    () => loadConfig({ file: "/dev/zero", env: noEnv }),
    ConfigError,
    'Cannot read configuration "/dev/zero": larger than 1MiB',
  );
});

Deno.test("loadConfig() turns any other failure into a ConfigError", async () => {
  await withYaml("logLevel: debug\n", async (file) => {
    const error = await assertRejects(
      () =>
        loadConfig({
          file,
          env: () => {
            throw new Deno.errors.NotCapable('Requires env access to "AGENT_LOG_LEVEL"');
          },
        }),
      ConfigError,
    );
    assertEquals(
      error.message,
      `Invalid configuration "${file}": Requires env access to "AGENT_LOG_LEVEL"`,
    );
  });
});

Deno.test("loadConfig() accepts an empty file and rejects a missing one", async () => {
  await withYaml(
    "",
    async (file) => assertEquals((await loadConfig({ file, env: noEnv })).logLevel, "info"),
  );
  await assertRejects(
    () => loadConfig({ file: "/nonexistent/agent.yaml", env: noEnv }),
    ConfigError,
    'Cannot read configuration "/nonexistent/agent.yaml": no such file',
  );
});

Deno.test("envName() maps key paths to AGENT_ variables", () => {
  assertEquals(
    envName("analyzer.scoring.largeCoreBytes"),
    "AGENT_ANALYZER_SCORING_LARGE_CORE_BYTES",
  );
  assertEquals(envName("storage.s3.accessKeyId"), "AGENT_STORAGE_S3_ACCESS_KEY_ID");
});

Deno.test("the example ConfigMap holds every key with its default", async () => {
  const manifest = parse(
    await Deno.readTextFile(new URL("../../manifests/configmap.yaml", import.meta.url)),
  );
  const embedded = parse(manifest.data["config.yaml"]);
  assertEquals(embedded, DEFAULTS);
  assertEquals(configKeys(embedded).map(([k]) => k), configKeys().map(([k]) => k));
});

Deno.test("loadConfig() reads RUST_LOG as KataPulse does, below AGENT_LOG_LEVEL", async () => {
  const level = async (vars: Record<string, string>) =>
    (await loadConfig({ env: (name) => vars[name] })).logLevel;
  assertEquals(await level({ RUST_LOG: "debug" }), "debug");
  assertEquals(await level({ RUST_LOG: "trace" }), "debug");
  assertEquals(await level({ RUST_LOG: "katapulse=warn,hyper=error" }), "warn");
  assertEquals(await level({ RUST_LOG: "error,katapulse=trace" }), "error");
  assertEquals(await level({ RUST_LOG: "off" }), "error");
  assertEquals(await level({ RUST_LOG: "trace", AGENT_LOG_LEVEL: "warn" }), "warn");
  const error = await assertRejects(() => level({ RUST_LOG: "loud" }), ConfigError);
  assertStringIncludes(error.message, "logLevel (from RUST_LOG): expected one of");
});
