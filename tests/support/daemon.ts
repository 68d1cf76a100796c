/**
 * `agent daemon` as a child process for black-box tests: started on a free loopback port
 * with a configuration file (or environment), its stderr collected, stopped with SIGTERM.
 *
 * @module
 */
import { agentArgs, DENO_DIR } from "./cli.ts";
import { freePort } from "./net.ts";

/** A running daemon. */
export interface TestDaemon {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  child: Deno.ChildProcess;
  /** Sends SIGTERM and returns the exit code and everything it logged. */
  stop(): Promise<{ code: number; log: string }>;
}

/**
 * Starts `agent [--config FILE] [--log-format json] daemon` without any Kubernetes
 * configuration (unless `env` gives one).
 */
export function startDaemon(options: {
  config?: string;
  env?: Record<string, string>;
  json?: boolean;
}): TestDaemon {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: agentArgs([
      ...(options.config ? ["--config", options.config] : []),
      ...(options.json ? ["--log-format", "json"] : []),
      "daemon",
      "--listen-address",
      `127.0.0.1:${port}`,
    ]),
    env: { NO_COLOR: "1", DENO_DIR, KUBECONFIG: "/nonexistent/kubeconfig", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new Response(child.stderr).text();
  return {
    base: `http://127.0.0.1:${port}`,
    child,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      const { code } = await child.status;
      return { code, log: await log };
    },
  };
}
