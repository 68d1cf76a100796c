/**
 * Black-box tests of the command line itself: help, version, usage errors, configuration.
 */
import { assertEquals, assertMatch, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";

Deno.test("agent --help lists the commands that work, with examples, and points to the options", async () => {
  const run = await runAgent(["--help"]);
  assertEquals(run.code, 0);
  for (
    const part of [
      "analyze core",
      "score",
      "discover",
      "collect",
      "prune",
      "uninstall",
      "daemon",
      "version",
      "Examples:\n  # Explain a coredump\n  agent analyze core ./core.1234\n",
      'Use "agent options" for a list of global command-line options',
    ]
  ) {
    assertStringIncludes(run.stdout, part);
  }
  for (const command of ["collect", "prune"]) {
    assertMatch(run.stdout, new RegExp(`^ {2}${command}\\b`, "m"), `${command} is offered`);
  }
  // A group named alone prints its help, as kubectl does.
  const group = await runAgent(["analyze"]);
  assertEquals([group.code, group.stderr], [0, ""]);
  assertStringIncludes(group.stdout, "Commands:\n  core   Explain a coredump");
});

Deno.test("agent options lists the global options every command takes", async () => {
  const run = await runAgent(["options"]);
  assertEquals(run.code, 0);
  for (const part of ["--config FILE", "--log-level LEVEL", "--log-format FORMAT", "-h, --help"]) {
    assertStringIncludes(run.stdout, part);
  }
  // And they work after the command's name too.
  const after = await runAgent(["version", "--log-level", "debug"]);
  assertEquals(after.code, 0, after.stderr);
});

Deno.test("agent COMMAND --help explains each command", async () => {
  const analyze = await runAgent(["analyze", "core", "--help"]);
  assertEquals(analyze.code, 0);
  assertStringIncludes(analyze.stdout, "--no-gdb");
  assertStringIncludes(analyze.stdout, "--exe PATH");
  assertStringIncludes(analyze.stdout, "Usage:\n  agent analyze core [flags] CORE [options]\n");
  const score = await runAgent(["help", "score"]);
  assertEquals(score.code, 0);
  assertStringIncludes(score.stdout, "--fail-under N");
});

Deno.test("agent version prints the version as text and JSON", async () => {
  const text = await runAgent(["version"]);
  assertEquals(text.code, 0);
  assertMatch(text.stdout, /^agent \d+\.\d+\.\d+ \(deno [\d.]+, v8 .+\)\n$/);
  const info = json<{ version: string; deno: string }>(await runAgent(["version", "-o", "json"]));
  assertEquals(info.deno, Deno.version.deno);
});

Deno.test("unknown commands and options are usage errors with one line", async () => {
  const usage = async (args: string[], line: string) => {
    const run = await runAgent(args);
    assertEquals([run.code, run.stdout, run.stderr], [2, "", `${line}\n`], args.join(" "));
  };
  await usage(
    ["analyze", "core", "x", "--frobnicate"],
    'Unknown flag "--frobnicate" (see "agent analyze core --help")',
  );
  await usage(["analyze", "core"], 'Missing argument CORE (see "agent analyze core --help")');
  await usage(
    ["analyze", "core", "x", "-o", "xml"],
    'Invalid --output "xml": expected text or json (see "agent analyze core --help")',
  );
  await usage(
    ["version", "x"],
    'Unexpected argument "x": expected no arguments (see "agent version --help")',
  );
  await usage(
    ["analyze", "core", "--exe"],
    'Flag --exe needs a value (see "agent analyze core --help")',
  );
  await usage(
    ["discover", "frob"],
    'Invalid WHAT "frob": expected milvus or sandboxes (see "agent discover --help")',
  );
  await usage(["frobnicate"], 'Unknown command "frobnicate" for "agent" (see "agent --help")');
  await usage(
    ["analyse", "core", "x"],
    'Unknown command "analyse" for "agent"; did you mean "analyze"? (see "agent --help")',
  );
  // Even with --help, and below a group: an unknown command never prints some other help.
  await usage(
    ["topology", "show", "--help"],
    'Unknown command "topology" for "agent" (see "agent --help")',
  );
  await usage(
    ["anomaly", "scores", "--help"],
    'Unknown command "scores" for "agent anomaly"; did you mean "score"? (see "agent anomaly --help")',
  );
  await usage(
    ["analyze", "cores", "--help"],
    'Unknown command "cores" for "agent analyze"; did you mean "core"? (see "agent analyze --help")',
  );
  await usage(["help", "frob"], 'Unknown command "frob" for "agent" (see "agent --help")');
  // A value of a global option is no command.
  const run = await runAgent(["--log-level", "debug", "version"]);
  assertEquals(run.code, 0, run.stderr);
});

Deno.test("an invalid configuration file is exit code 2 naming the key", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/agent.yaml`, "storage:\n  retention:\n    maxAge: x\n");
    const run = await runAgent(["--config", `${dir}/agent.yaml`, "score", "core"]);
    assertEquals(run.code, 2);
    assertEquals(
      run.stderr,
      `Invalid configuration "${dir}/agent.yaml": storage.retention.maxAge: expected a duration like "30d", got "x"\n`,
    );
    const env = await runAgent(["score", "core"], { env: { AGENT_CONFIG: `${dir}/missing.yaml` } });
    assertEquals(env.code, 2);
    assertEquals(env.stderr, `Cannot read configuration "${dir}/missing.yaml": no such file\n`);
  });
});

Deno.test("a YAML alias bomb in the configuration is exit code 2 with one line", async () => {
  await withTempDir(async (dir) => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (const name of "bcdefghi") {
      const previous = String.fromCharCode(name.charCodeAt(0) - 1);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(", ")}]`);
    }
    await Deno.writeTextFile(`${dir}/bomb.yaml`, levels.join("\n") + "\n");
    const run = await runAgent(["score", "core"], { env: { AGENT_CONFIG: `${dir}/bomb.yaml` } });
    assertEquals([run.code, run.stdout], [2, ""]);
    assertEquals(
      run.stderr,
      `Invalid configuration "${dir}/bomb.yaml": YAML error: Excessive alias count indicates a resource exhaustion attack\n`,
    );
  });
});

Deno.test("configuration errors show no secret, no URL credentials, no lines of a foreign file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/shadow`,
      "root:$6$salt$hunter2hash:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n",
    );
    const shadow = await runAgent(["score", "core"], { env: { AGENT_CONFIG: `${dir}/shadow` } });
    assertEquals([shadow.code, shadow.stderr], [
      2,
      `Invalid configuration "${dir}/shadow": (top level): 2 unknown keys not shown (not key names)\n`,
    ]);
    await Deno.writeTextFile(
      `${dir}/secret.yaml`,
      "storage:\n  s3:\n    secretAccessKey: 987654321123\n",
    );
    const secret = await runAgent(["--config", `${dir}/secret.yaml`, "prune"]);
    assertEquals([secret.code, secret.stderr], [
      2,
      `Invalid configuration "${dir}/secret.yaml": storage.s3.secretAccessKey: expected a string, got a number (not shown: a secret)\n`,
    ]);
    const endpoint = await runAgent(["prune"], {
      env: {
        AGENT_STORAGE_BACKEND: "s3",
        AGENT_STORAGE_S3_BUCKET: "cores",
        AGENT_STORAGE_S3_ENDPOINT: "https://agent:hunter2@minio.example:9000",
      },
    });
    assertEquals(endpoint.code, 2);
    assertEquals(
      endpoint.stderr,
      'Invalid storage.s3.endpoint "https://***@minio.example:9000": credentials do not go in the URL (set storage.s3.accessKeyId and storage.s3.secretAccessKey)\n',
    );
  });
});

Deno.test("every command reads a setting the same way from its flag, its variable and the file", async () => {
  // The daemon stops at the bad listen address, after every other setting was accepted.
  const daemon = (env: Record<string, string>, ...args: string[]) =>
    runAgent(["daemon", "--listen-address", "nowhere", ...args], { env });
  const badListen =
    'Invalid configuration: server.listenAddress (from --listen-address): expected HOST:PORT, got "nowhere"\n';
  for (const interval of ["5s", "5", "1m30s"]) {
    const viaEnv = await daemon({ KATA_PULSE_METRICS_INTERVAL: interval });
    assertEquals([viaEnv.code, viaEnv.stderr], [2, badListen], `env ${interval}`);
    const viaFlag = await daemon({}, "--metrics-interval-secs", interval);
    assertEquals([viaFlag.code, viaFlag.stderr], [2, badListen], `flag ${interval}`);
  }
  const endpoint = await daemon({ RUNTIME_ENDPOINT: "unix:///run/k3s/containerd.sock" });
  assertEquals([endpoint.code, endpoint.stderr], [2, badListen]);
  // And a value one command rejects, every command rejects, with the same line.
  for (
    const [env, line] of [
      [
        { KATA_PULSE_METRICS_INTERVAL: "soon" },
        'kata.metricsInterval (from KATA_PULSE_METRICS_INTERVAL): expected a duration like "30d", got "soon"',
      ],
      [
        { KATA_PULSE_LISTEN: "nowhere" },
        'server.listenAddress (from KATA_PULSE_LISTEN): expected HOST:PORT, got "nowhere"',
      ],
      [
        { RUNTIME_ENDPOINT: "containerd.sock" },
        'kata.runtimeEndpoint (from RUNTIME_ENDPOINT): expected a socket path or unix:///path, got "containerd.sock"',
      ],
    ] as const
  ) {
    for (const args of [["daemon"], ["discover", "sandboxes"], ["score", "core"]]) {
      const run = await runAgent(args, { env });
      assertEquals([run.code, run.stderr], [2, `Invalid configuration: ${line}\n`], args[0]);
    }
  }
  const flag = await daemon({}, "--metrics-interval-secs", "soon");
  assertEquals(
    flag.stderr,
    'Invalid configuration: kata.metricsInterval (from --metrics-interval-secs): expected a duration like "30d", got "soon"; ' +
      'server.listenAddress (from --listen-address): expected HOST:PORT, got "nowhere"\n',
  );
});
