/**
 * A real HTTP proxy for tests: Debian's `tinyproxy` on 127.0.0.1, in the foreground, with its
 * own configuration and log in a temporary directory. It tunnels HTTPS with CONNECT, as the
 * proxies kubeconfigs name (`proxy-url`) do.
 *
 * @module
 */
import { haveCommand } from "./cores.ts";
import { freePort, waitFor } from "./net.ts";

/** A running tinyproxy. */
export interface Proxy {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** The requests it served, as its log lines say them: `CONNECT 127.0.0.1:6443 HTTP/1.1`. */
  requests(): Promise<string[]>;
  close(): Promise<void>;
}

/** Why no proxy can be started here, or `undefined`. */
export function proxyMissing(): string | undefined {
  return haveCommand("tinyproxy") ? undefined : "tinyproxy is not installed";
}

/** Starts tinyproxy on a free loopback port. */
export async function startProxy(): Promise<Proxy> {
  const dir = await Deno.makeTempDir({ prefix: "agent-proxy-" });
  const port = freePort();
  const log = `${dir}/tinyproxy.log`;
  await Deno.writeTextFile(
    `${dir}/tinyproxy.conf`,
    [
      `Port ${port}`,
      "Listen 127.0.0.1",
      "Timeout 60",
      `LogFile "${log}"`,
      "LogLevel Connect",
      "MaxClients 20",
      "Allow 127.0.0.1",
      // Without ConnectPort lines, CONNECT reaches any port (the API server's is random).
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("tinyproxy", {
    args: ["-d", "-c", `${dir}/tinyproxy.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await child.status;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitFor(async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return true;
    }, "tinyproxy to listen");
  } catch (error) {
    await close();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async requests() {
      const text = await Deno.readTextFile(log).catch(() => "");
      return [...text.matchAll(/Request \(file descriptor \d+\): (.*)$/gm)].map((m) => m[1]!);
    },
    close,
  };
}
