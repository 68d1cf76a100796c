/**
 * `agent daemon` as a child process for black-box tests: a YAML configuration written to a
 * directory, a port on 127.0.0.1, optionally a lower descriptor limit (`ulimit -n`, through
 * bash), and a stop by SIGTERM that must end with exit code 0.
 *
 * @module
 */
import { agentArgs, DENO_DIR } from "./cli.ts";
import { freePort, waitFor } from "./net.ts";

/** Options of {@linkcode startDaemon}. */
export interface StartDaemonOptions {
  /** Holds `agent.yaml`, the state directory, and `HOME`. */
  dir: string;
  /**
   * YAML after `stateDir` and `collector`; `server.listenAddress` is added in a `server`
   * mapping with `server` (its other keys, as YAML flow pairs).
   */
  config?: string;
  /** A whole configuration file to use instead (the listen address goes by flag then). */
  configFile?: string;
  /** More `server` keys, as `key: value` pairs. */
  server?: Record<string, string>;
  /** Runs the daemon under `ulimit -n N`. */
  fileLimit?: number;
  /** `PATH` of the daemon itself (with `fileLimit`: bash needs the usual one to start). */
  path?: string;
  env?: Record<string, string>;
  /** Opens V8's inspector on this port of 127.0.0.1 (`--inspect`), e.g. for heap snapshots. */
  inspectPort?: number;
}

/** A running daemon. */
export interface TestDaemon {
  base: string;
  port: number;
  child: Deno.ChildProcess;
  /** Everything the daemon logged so far. */
  log(): string;
  /** SIGTERM, then waits; throws unless it exits 0. Returns the whole log. */
  stop(): Promise<string>;
}

/** Starts the daemon and waits until `/healthz` answers. */
export async function startDaemon(options: StartDaemonOptions): Promise<TestDaemon> {
  const { dir } = options;
  const port = freePort();
  let config = options.configFile;
  if (config === undefined) {
    const server = Object.entries({ listenAddress: `"127.0.0.1:${port}"`, ...options.server })
      .map(([key, value]) => `${key}: ${value}`).join(", ");
    config = `${dir}/agent.yaml`;
    await Deno.writeTextFile(
      config,
      `stateDir: ${dir}/state\ncollector: {paths: []}\n${
        options.config ?? ""
      }\nserver: {${server}}\n`,
    );
  }
  const args = agentArgs([
    "--config",
    config,
    "daemon",
    "--log-format",
    "json",
    ...(options.configFile === undefined ? [] : ["--listen-address", `127.0.0.1:${port}`]),
  ]);
  if (options.inspectPort !== undefined) {
    args.splice(1, 0, `--inspect=127.0.0.1:${options.inspectPort}`);
  }
  const command = options.fileLimit === undefined
    ? new Deno.Command(Deno.execPath(), { args, ...spawnOptions(options) })
    : new Deno.Command("bash", {
      args: [
        "-c",
        `ulimit -n ${options.fileLimit} && ${
          options.path === undefined ? "" : `PATH='${options.path}' `
        }exec "$0" "$@"`,
        Deno.execPath(),
        ...args,
      ],
      ...spawnOptions(options),
    });
  const child = command.spawn();
  let log = "";
  const logged = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) log += text;
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error("exited");
        const response = await fetch(`${base}/healthz`);
        await response.body?.cancel();
        return response.ok;
      },
      "the daemon to answer /healthz",
      60_000,
    );
  } catch (error) {
    if (!exited) child.kill("SIGKILL");
    await status;
    await logged;
    throw new Error(`The daemon did not start (${error}):\n${log}`);
  }
  return {
    base,
    port,
    child,
    log: () => log,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone: the status says how.
      }
      const { code } = await status;
      await logged;
      if (code !== 0) throw new Error(`The daemon exited ${code}:\n${log}`);
      return log;
    },
  };
}

function spawnOptions(options: StartDaemonOptions): Deno.CommandOptions {
  return {
    env: { NO_COLOR: "1", DENO_DIR, HOME: options.dir, KUBECONFIG: "", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  };
}
