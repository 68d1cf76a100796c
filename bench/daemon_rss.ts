/**
 * Resident memory of `agent daemon` once ready: without Kubernetes, and watching PODS pods
 * (every node, so all are cached) served by the emulator in another process.
 *
 * Run: deno task bench:daemon [PODS]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { agentArgs } from "../tests/support/cli.ts";
import { freePort } from "../tests/support/net.ts";
import { startEmulatorProcess } from "./_emulator_process.ts";
const pods = Number(Deno.args[0] ?? "5000");

async function rssOfDaemon(env: Record<string, string>, args: string[]): Promise<number> {
  const dir = await Deno.makeTempDir();
  const port = freePort();
  const daemon = new Deno.Command(Deno.execPath(), {
    args: agentArgs([
      "daemon",
      "--listen-address",
      `127.0.0.1:${port}`,
      "--state-dir",
      `${dir}/state`,
      ...args,
    ]),
    env: { HOME: dir, KUBECONFIG: "", ...env },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 600; i++) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.body?.cancel().then(() => r.ok),
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 2000));
    // Deno asks for --allow-all to read /proc/PID: ps reads it instead.
    const ps = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(daemon.pid)] })
      .output();
    return Number(new TextDecoder().decode(ps.stdout).trim()) / 1024;
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
    await Deno.remove(dir, { recursive: true });
  }
}

const emulator = await startEmulatorProcess(pods);
const url = emulator.url;
const dir = await Deno.makeTempDir();
await Deno.writeTextFile(
  `${dir}/kubeconfig`,
  `apiVersion: v1\nkind: Config\nclusters: [{name: e, cluster: {server: "${url}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: e, context: {cluster: e, user: u}}]\ncurrent-context: e\n`,
);
const without = await rssOfDaemon({}, []);
const withKube = await rssOfDaemon({}, ["--kubeconfig", `${dir}/kubeconfig`]);
console.log("| daemon | RSS when ready |");
console.log("| --- | ---: |");
console.log(`| without Kubernetes | ${without.toFixed(1)} MB |`);
console.log(`| watching ${pods} Milvus pods | ${withKube.toFixed(1)} MB |`);
await emulator.close();
await Deno.remove(dir, { recursive: true });
