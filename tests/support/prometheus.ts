/**
 * A real Prometheus and a real Alertmanager (Debian packages `prometheus` and
 * `prometheus-alertmanager`) for tests, on loopback ports, their data in a directory of the
 * test; each waits until it answers `/-/ready`, and stops by SIGTERM.
 *
 * @module
 */
import { freePort, waitFor } from "./net.ts";

/** A running server. */
export interface Peer {
  base: string;
  /** What it printed so far. */
  log(): string;
  stop(): Promise<void>;
}

async function startPeer(command: string, args: (port: number) => string[]): Promise<Peer> {
  const port = freePort();
  const child = new Deno.Command(command, {
    args: args(port),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeThrough(new TextDecoderStream()).pipeTo(
      new WritableStream({ write: (text) => void (log += text) }),
    ).catch(() => {});
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const base = `http://127.0.0.1:${port}`;
  let exited = false;
  const status = child.status.then((s) => (exited = true, s));
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    await status;
    await drained;
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`${command} exited:\n${log}`);
        const response = await fetch(`${base}/-/ready`);
        await response.body?.cancel();
        return response.ok;
      },
      `${command} ready`,
      60_000,
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${log}`);
  }
  return { base, log: () => log, stop };
}

/** Starts Prometheus with the configuration `config` (YAML), its data under `dir`. */
export async function startPrometheus(dir: string, config: string): Promise<Peer> {
  await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
  return startPeer("prometheus", (port) => [
    `--config.file=${dir}/prometheus.yml`,
    `--storage.tsdb.path=${dir}/tsdb`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
}

/** Starts Alertmanager with the configuration file `config`, its data under `dir`. */
export function startAlertmanager(dir: string, config: string): Promise<Peer> {
  return startPeer("prometheus-alertmanager", (port) => [
    `--config.file=${config}`,
    `--storage.path=${dir}/alertmanager`,
    `--web.listen-address=127.0.0.1:${port}`,
    // A single instance: no gossip port.
    "--cluster.listen-address=",
  ]);
}

/** A PromQL query's result vector (or a scalar as one sample), at the server's now. */
export async function query(
  prometheus: Peer,
  expr: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const response = await fetch(
    `${prometheus.base}/api/v1/query?query=${encodeURIComponent(expr)}`,
  );
  const body = await response.json();
  if (body.status !== "success") throw new Error(`${expr}: ${body.error ?? response.status}`);
  const result = body.data.result;
  return body.data.resultType === "scalar" ? [{ metric: {}, value: result }] : result;
}
