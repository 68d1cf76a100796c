/**
 * `deno task demo`: a self-contained tour. It builds a small multi-threaded C program, lets
 * it crash into a core, runs `agent analyze core` and `agent score` on it; then it starts
 * `agent daemon` on 127.0.0.1 over a demo environment in a temporary directory: a handful
 * of SIMULATED Kata sandboxes (Unix-socket HTTP servers serving realistic, changing shim
 * metrics) and a core directory into which it drops the core, so that `/sandboxes`,
 * `/metrics` and `/cores` show data within seconds. The daemon itself runs as in
 * production; only its surroundings are simulated. Ctrl-C stops everything and removes the
 * directory. `--for SECONDS` stops on its own; without a terminal on stdin it stops after
 * 20 s.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { agentArgs } from "../tests/support/cli.ts";
import { crash, haveGcc, haveGdb } from "../tests/support/cores.ts";
import { type FakeShim, startFakeShim } from "../tests/support/fake_shim.ts";
import { renderShimMetrics } from "../tests/support/kata_metrics.ts";

const forIndex = Deno.args.indexOf("--for");
// Without a terminal (a script, CI) nobody can press Ctrl-C: stop after 20 s by default.
const seconds = forIndex >= 0
  ? Number(Deno.args[forIndex + 1])
  : Deno.stdin.isTerminal()
  ? undefined
  : 20;

function show(args: string[]): string {
  return args.map((a) => (/[\s'"$]/.test(a) ? JSON.stringify(a) : a)).join(" ");
}

async function agent(args: string[]): Promise<number> {
  console.log(`\n$ agent ${show(args)}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: agentArgs(args),
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return status.code;
}

/** Whether something already listens on 127.0.0.1:port. */
async function busy(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

if (!haveGcc()) {
  console.log("The demo compiles a crashing C program and needs gcc: apt-get install -y gcc gdb");
  Deno.exit(await agent(["version"]));
}
if (!haveGdb()) {
  console.log("gdb is not installed: the analysis will be notes-only (apt-get install -y gdb).");
}

// A short path: a unix socket path must stay under 108 bytes.
const dir = `/tmp/agent-demo-${crypto.randomUUID().slice(0, 6)}`;
await Deno.mkdir(dir, { mode: 0o700 });
const shims: FakeShim[] = [];
let daemon: Deno.ChildProcess | undefined;
try {
  console.log(
    "Building tests/support/programs/threads.c: four threads, one writes through a null pointer...",
  );
  const sample = await crash("threads", `${dir}/build`);
  console.log(
    `It crashed; the ${sample.writer === "kernel" ? "kernel" : "gdb"} wrote ${sample.core}`,
  );
  let code = await agent(["analyze", "core", sample.core]);
  if (code === 0) code = await agent(["score", sample.core, "--pod", "milvus-demo-querynode-0"]);
  if (code !== 0) {
    console.log(`\nThe demo failed with exit code ${code}.`);
    Deno.exit(code);
  }

  // The simulated node: sandboxes under a Go-runtime root and a Rust-runtime root.
  let tick = 0;
  for (const [root, count] of [["v", 3], ["k", 2]] as const) {
    for (let i = 0; i < count; i++) {
      const id = randomId();
      shims.push(
        await startFakeShim(`${dir}/${root}`, id, {
          mode: "ok",
          body: () => renderShimMetrics(id, tick++),
        }),
      );
    }
  }
  await Deno.mkdir(`${dir}/cores`);
  const port = (await busy(8090)) ? freePort() : 8090;
  await Deno.writeTextFile(
    `${dir}/agent.yaml`,
    `# The demo's configuration: everything under ${dir}.
stateDir: ${dir}/state
collector:
  paths: [${dir}/cores]
  settleInterval: 1s
  rescanInterval: 5s
storage:
  local: {path: ${dir}/store}
  compression: zstd
kata:
  sandboxRoots: [${dir}/v, ${dir}/k]
  runtimeEndpoint: ${dir}/no-cri-runtime.sock
  metricsInterval: 5s
server:
  listenAddress: 127.0.0.1:${port}
`,
  );
  const args = ["--config", `${dir}/agent.yaml`, "daemon"];
  console.log(`\n$ agent ${show(args)}`);
  daemon = new Deno.Command(Deno.execPath(), {
    args: agentArgs(args),
    env: {
      KUBECONFIG: "",
      HOME: dir,
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
    },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // As core_pattern "core.%e.%p.%s.%t.%h" would name it: %h is the pod's hostname.
  const name = `core.threads.4242.11.${Math.floor(Date.now() / 1000)}.milvus-demo-querynode-0`;
  await Deno.copyFile(sample.core, `${dir}/cores/${name}`);
  console.log(`
=== DEMO: the daemon runs on ${base} over a SIMULATED node in ${dir} ===
- ${shims.length} simulated Kata sandboxes (fake shims serving realistic metrics that change
  every scrape) under ${dir}/v and ${dir}/k; no CRI runtime, so pod labels stay empty;
- the core was dropped into ${dir}/cores/${name}:
  the daemon waits 1 s for it to settle, analyzes, scores and stores it in ${dir}/store.
Try:
  curl ${base}/
  curl ${base}/sandboxes
  curl -H 'Accept: application/json' ${base}/sandboxes
  curl '${base}/metrics?filter_family=kata_guest_meminfo,container_memory'
  curl ${base}/cores
  agent discover sandboxes   (with --config ${dir}/agent.yaml)
${
    seconds
      ? `Stopping in ${seconds} s.`
      : "Ctrl-C stops the daemon and the fake shims and removes the directory."
  }
`);
  const stop = new Promise<void>((resolve) => {
    Deno.addSignalListener("SIGINT", () => resolve());
    if (seconds) setTimeout(resolve, seconds * 1000);
  });
  await Promise.race([stop, daemon.status]);
} finally {
  if (daemon) {
    try {
      daemon.kill("SIGTERM");
    } catch {
      // Already stopped.
    }
    const status = await daemon.status;
    Deno.exitCode = status.code;
  }
  for (const shim of shims) await shim.stop();
  await Deno.remove(dir, { recursive: true });
  console.log(`\nDemo stopped; ${dir} removed.`);
}
