/**
 * `deno task demo`: a self-contained tour. It builds a small multi-threaded C program, lets
 * it crash into a core, runs `agent analyze core` and `agent score` on it; then it starts
 * `agent daemon` on 127.0.0.1 over a demo environment in a temporary directory: a handful
 * of SIMULATED Kata sandboxes (Unix-socket HTTP servers serving realistic, changing shim
 * metrics), a SIMULATED CRI runtime (a gRPC server speaking CRI `runtime.v1` that names
 * their pods) and a core directory into which it drops the core. It prints its hints once
 * each works: `/sandboxes` names the pods, `/metrics` has their `container_*` series and
 * this machine's own `node_*` series, `/cores` the stored core with its explanation by a
 * SIMULATED model API (the tests' emulator of OpenAI's chat completions); `agent stats` reads
 * the node, `agent ai usage` what the explanation cost. The daemon itself runs as in production; only its surroundings
 * are simulated. Ctrl-C stops everything and removes the directory. `--for SECONDS` stops on
 * its own; without a terminal on stdin it stops after 20 s.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { agentArgs } from "../tests/support/cli.ts";
import { crash, haveGcc, haveGdb } from "../tests/support/cores.ts";
import { type FakeCri, fakeCri } from "../tests/support/fake_cri.ts";
import { type FakeShim, startFakeShim } from "../tests/support/fake_shim.ts";
import { renderShimMetrics } from "../tests/support/kata_metrics.ts";
import { ModelApiEmulator } from "../tests/support/model_api.ts";

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

/** The pods of the simulated node: a Milvus instance and a web shop. */
const PODS = [
  ["milvus", "milvus-demo-querynode-0"],
  ["milvus", "milvus-demo-datanode-0"],
  ["milvus", "milvus-demo-proxy-7d9f8b6c4-x2k8p"],
  ["shop", "web-5c7d4f9b8-m4q2z"],
  ["shop", "cart-6b8d7c5f9-r7t3w"],
] as const;

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/**
 * How the user runs the agent from their shell: `agent` when it is on PATH (deno task
 * install), else the start task, with the checkout's deno.json when they stand elsewhere.
 */
function agentCommand(): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    try {
      if (Deno.statSync(`${dir}/agent`).isFile) return "agent";
    } catch {
      // Not there.
    }
  }
  const deno = Deno.execPath().includes("/_npx/") ? "npx -y deno@2.9.6" : "deno";
  const here = Deno.env.get("INIT_CWD") ?? Deno.cwd();
  return here === ROOT
    ? `${deno} task -q start`
    : `${deno} task -q --config ${ROOT}/deno.json start`;
}

/** Waits until `test` holds (a throw counts as not yet), at most `ms`; whether it did. */
async function until(test: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await test().catch(() => false)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
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
let cri: FakeCri | undefined;
let model: ModelApiEmulator | undefined;
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

  // The simulated node: sandboxes under a Go-runtime root and a Rust-runtime root, and the
  // CRI runtime that knows their pods.
  let tick = 0;
  const sandboxes: Record<string, unknown>[] = [];
  for (const [i, [namespace, pod]] of PODS.entries()) {
    const id = randomId();
    shims.push(
      await startFakeShim(`${dir}/${i < 3 ? "v" : "k"}`, id, {
        mode: "ok",
        body: () => renderShimMetrics(id, tick++),
      }),
    );
    sandboxes.push({
      id,
      metadata: { name: pod, uid: crypto.randomUUID(), namespace, attempt: 0 },
      state: "SANDBOX_READY",
      createdAt: String(BigInt(Date.now()) * 1_000_000n),
      labels: { "io.kubernetes.pod.name": pod, "io.kubernetes.pod.namespace": namespace },
      annotations: {},
      runtimeHandler: "kata",
    });
  }
  cri = await fakeCri({
    Version: () => ({
      version: "0.1.0",
      runtimeName: "demo-cri",
      runtimeVersion: "1.0.0",
      runtimeApiVersion: "v1",
    }),
    ListPodSandbox: () => ({ items: sandboxes }),
  });
  // The model API for AI crash analysis: an emulator of OpenAI's chat completions answering
  // recorded explanations; the key is the demo's own.
  const key = `demo-${crypto.randomUUID()}`;
  model = await ModelApiEmulator.start({ key });
  await Deno.writeTextFile(`${dir}/ai.key`, key, { mode: 0o600 });
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
  runtimeEndpoint: ${cri.socket}
  metricsInterval: 5s
  criSyncInterval: 2s
ai:
  enabled: true
  endpoint: ${model.url}/v1
  model: gpt-emulated
  apiKeyFile: ${dir}/ai.key
  prices: ["gpt-emulated=2/8"]
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
  await until(() => fetch(`${base}/readyz`).then((r) => r.ok), 30_000);
  // As core_pattern "core.%e.%p.%s.%t.%h" would name it: %h is the pod's hostname.
  const name = `core.threads.4242.11.${Math.floor(Date.now() / 1000)}.milvus-demo-querynode-0`;
  await Deno.copyFile(sample.core, `${dir}/cores/${name}`);
  console.log("\nWaiting for the first scrapes, the pods' names and the stored core...");
  // The hints are printed once each of them shows what it promises.
  const text = (path: string, accept = "*/*") =>
    fetch(`${base}${path}`, { headers: { accept } }).then((r) => r.text());
  const ready = await until(
    async () =>
      (await text("/metrics?filter_family=container_memory")).includes('pod="milvus-demo-') &&
      (await text("/metrics?filter_family=node_load1")).includes("node_load1 ") &&
      (await text("/sandboxes", "application/json")).includes('"name":"milvus-demo-') &&
      (await text("/cores")).includes('"state":"stored"') &&
      (await text("/cores")).includes('"state":"explained"'),
    60_000,
  );
  if (!ready) console.log("(not everything is there yet: the daemon's log above says why)");
  const agentLine = agentCommand();
  console.log(`
=== DEMO: the daemon runs on ${base} over a SIMULATED node in ${dir} ===
- ${shims.length} simulated Kata sandboxes (fake shims serving realistic metrics that change
  every scrape) under ${dir}/v and ${dir}/k;
- a simulated CRI runtime on ${cri.socket} naming their pods
  (${PODS.map(([namespace, pod]) => `${namespace}/${pod}`).slice(0, 2).join(", ")}, ...);
- the core was dropped into ${dir}/cores/${name}:
  the daemon analyzed, scored and stored it in ${dir}/store;
- a simulated model API on ${model.url} (answering recorded explanations as OpenAI's API
  would) explained the crash: its summary is on /cores;
- the node collectors read this machine's own /proc and /sys (nothing simulated there).
Try:
  curl ${base}/
  curl ${base}/sandboxes
  curl -H 'Accept: application/json' ${base}/sandboxes
  curl '${base}/metrics?filter_family=kata_guest_meminfo,container_memory'
  curl ${base}/cores
  ${agentLine} --config ${dir}/agent.yaml discover sandboxes
  curl '${base}/metrics?filter_family=node_load1,node_memory_MemAvailable_bytes'
  ${agentLine} stats cpu memory
  ${agentLine} --config ${dir}/agent.yaml ai usage
${
    seconds
      ? `Stopping in ${seconds} s.`
      : "Ctrl-C stops the daemon and the simulated node and removes the directory."
  }
`);
  let onSignal = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = new Promise<void>((resolve) => {
    onSignal = () => resolve();
    Deno.addSignalListener("SIGINT", onSignal);
    if (seconds) timer = setTimeout(resolve, seconds * 1000);
  });
  await Promise.race([stop, daemon.status]);
  // Nothing may keep the demo alive once it stops.
  clearTimeout(timer);
  Deno.removeSignalListener("SIGINT", onSignal);
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
  await cri?.close();
  await model?.stop();
  await Deno.remove(dir, { recursive: true });
  console.log(`\nDemo stopped; ${dir} removed.`);
}
