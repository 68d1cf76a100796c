/**
 * A real containerd (Debian's 1.6 with runc) for CRI tests, owned by one test run: its
 * root, state, sockets, runc root and (empty) CNI directories live in a temporary
 * directory, its sandbox ("pause") image is a static C program built here with
 * `gcc -static` and imported from an OCI image-layout tar, and its sandboxes are made
 * through CRI `RunPodSandbox` on the host network. See
 * `/work/shared/notes/cri-on-this-machine.md` for why each setting is what it is.
 *
 * Needs root, `containerd`, `containerd-shim-runc-v2`, `runc`, `ctr`, `gcc` (with a static
 * libc) and `tar`; {@linkcode containerdSkipReason} says which is missing.
 *
 * @module
 */
import type * as Grpc from "@grpc/grpc-js";
import { CRI_MESSAGES, CRI_PROTO_HEADER } from "../../lib/cri/_cri_proto.ts";
import { haveCommand } from "./cores.ts";
import { buildImage, PAUSE, WORKLOAD } from "./images.ts";

/** The name the pause image is imported under. */
export const PAUSE_IMAGE = PAUSE.name;

/** The name the workload image ({@linkcode WORKLOAD}) is imported under. */
export const WORKLOAD_IMAGE = WORKLOAD.name;

/**
 * The CRI calls that make fixtures (field numbers from kubernetes/cri-api
 * `pkg/apis/runtime/v1/api.proto`), with the agent's own messages (PodSandboxMetadata…).
 */
export const CRI_FIXTURE_PROTO = `${CRI_PROTO_HEADER}
service RuntimeService {
  rpc RunPodSandbox(RunPodSandboxRequest) returns (RunPodSandboxResponse) {}
  rpc StopPodSandbox(StopPodSandboxRequest) returns (StopPodSandboxResponse) {}
  rpc RemovePodSandbox(RemovePodSandboxRequest) returns (RemovePodSandboxResponse) {}
  rpc CreateContainer(CreateContainerRequest) returns (CreateContainerResponse) {}
  rpc StartContainer(StartContainerRequest) returns (StartContainerResponse) {}
  rpc ListContainerStats(ListContainerStatsRequest) returns (ListContainerStatsResponse) {}
}
${CRI_MESSAGES}
enum NamespaceMode {
  POD = 0;
  CONTAINER = 1;
  NODE = 2;
  TARGET = 3;
}

message NamespaceOption {
  NamespaceMode network = 1;
  NamespaceMode pid = 2;
  NamespaceMode ipc = 3;
}

message LinuxSandboxSecurityContext {
  NamespaceOption namespace_options = 1;
  bool privileged = 6;
}

message LinuxPodSandboxConfig {
  string cgroup_parent = 1;
  LinuxSandboxSecurityContext security_context = 2;
}

message PodSandboxConfig {
  PodSandboxMetadata metadata = 1;
  string hostname = 2;
  string log_directory = 3;
  map<string, string> labels = 6;
  map<string, string> annotations = 7;
  LinuxPodSandboxConfig linux = 8;
}

message RunPodSandboxRequest {
  PodSandboxConfig config = 1;
  string runtime_handler = 2;
}

message RunPodSandboxResponse {
  string pod_sandbox_id = 1;
}

message StopPodSandboxRequest {
  string pod_sandbox_id = 1;
}

message StopPodSandboxResponse {}

message RemovePodSandboxRequest {
  string pod_sandbox_id = 1;
}

message RemovePodSandboxResponse {}

message KeyValue {
  string key = 1;
  bytes value = 2;
}

message LinuxContainerResources {
  int64 cpu_period = 1;
  int64 cpu_quota = 2;
  int64 cpu_shares = 3;
  int64 memory_limit_in_bytes = 4;
}

message LinuxContainerSecurityContext {
  NamespaceOption namespace_options = 3;
}

message LinuxContainerConfig {
  LinuxContainerResources resources = 1;
  LinuxContainerSecurityContext security_context = 2;
}

message ContainerConfig {
  ContainerMetadata metadata = 1;
  ImageSpec image = 2;
  repeated string command = 3;
  repeated string args = 4;
  repeated KeyValue envs = 6;
  map<string, string> labels = 9;
  map<string, string> annotations = 10;
  string log_path = 11;
  LinuxContainerConfig linux = 15;
}

message CreateContainerRequest {
  string pod_sandbox_id = 1;
  ContainerConfig config = 2;
  PodSandboxConfig sandbox_config = 3;
}

message CreateContainerResponse {
  string container_id = 1;
}

message StartContainerRequest {
  string container_id = 1;
}

message StartContainerResponse {}

message UInt64Value {
  uint64 value = 1;
}

message ContainerAttributes {
  string id = 1;
  ContainerMetadata metadata = 2;
}

message CpuUsage {
  int64 timestamp = 1;
  UInt64Value usage_core_nano_seconds = 2;
}

message MemoryUsage {
  int64 timestamp = 1;
  UInt64Value working_set_bytes = 2;
  UInt64Value usage_bytes = 4;
  UInt64Value rss_bytes = 5;
}

message ContainerStats {
  ContainerAttributes attributes = 1;
  CpuUsage cpu = 2;
  MemoryUsage memory = 3;
}

message ContainerStatsFilter {
  string id = 1;
  string pod_sandbox_id = 2;
  map<string, string> label_selector = 3;
}

message ListContainerStatsRequest {
  ContainerStatsFilter filter = 1;
}

message ListContainerStatsResponse {
  repeated ContainerStats stats = 1;
}
`;

/** A compiled gRPC service: the grpc-js module and the service's method definitions. */
export interface LoadedService {
  grpc: typeof Grpc;
  service: Grpc.ServiceDefinition;
}

/**
 * Compiles `proto` (text) with protobufjs and proto-loader and returns the definition of
 * `serviceName`, for test clients and fake servers.
 */
export async function loadService(
  proto: string,
  serviceName: string,
  options: Record<string, unknown> = { longs: String, enums: String, defaults: true },
): Promise<LoadedService> {
  const [grpc, loader, protobuf] = await Promise.all([
    import("@grpc/grpc-js"),
    import("@grpc/proto-loader"),
    import("protobufjs"),
  ]);
  const { root } = protobuf.default.parse(proto, { keepCase: false });
  const definition = loader.fromJSON(root.toJSON(), options);
  return { grpc, service: definition[serviceName] as Grpc.ServiceDefinition };
}

/** Why the real-containerd tests cannot run here, or undefined when they can. */
export function containerdSkipReason(): string | undefined {
  if (Deno.uid() !== 0) return "containerd tests need root";
  for (
    const tool of ["containerd", "containerd-shim-runc-v2", "runc", "ctr", "gcc", "tar", "pgrep"]
  ) {
    if (!haveCommand(tool)) return `${tool} is not installed`;
  }
  return undefined;
}

/** Prints once why the real-containerd tests are skipped; returns whether they are. */
export function containerdSkipNotice(): boolean {
  const reason = containerdSkipReason();
  // deno-lint-ignore no-console
  if (reason) console.warn(`SKIP: ${reason}; tests that need a real containerd are ignored`);
  return reason !== undefined;
}

/** A pod sandbox to create. */
export interface SandboxSpec {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A container to create in a sandbox. */
export interface ContainerSpec {
  name: string;
  /** Default {@linkcode WORKLOAD_IMAGE}, imported on first use. */
  image?: string;
  args?: string[];
  labels?: Record<string, string>;
  /** CFS quota in microseconds per 100 ms period (50000: half a CPU); none by default. */
  cpuQuotaUs?: number;
  memoryLimitBytes?: number;
}

/** What CRI `ListContainerStats` reports for a container. */
export interface CriContainerStats {
  /** `cpu.usage_core_nano_seconds`, and when it was read (ns since the epoch). */
  cpuNanoseconds: bigint;
  cpuTimestamp: bigint;
  /** `memory.working_set_bytes`, `memory.usage_bytes`. */
  workingSetBytes: number;
  usageBytes: number;
}

/** A running containerd owned by the test. */
export interface Containerd {
  /** The CRI (and containerd) socket path. */
  socket: string;
  /** The temporary directory holding everything it writes. */
  dir: string;
  /** How long containerd took to answer after spawning, in milliseconds. */
  startupMs: number;
  /** Creates a host-network pod sandbox through CRI RunPodSandbox; returns its id. */
  runSandbox(spec: SandboxSpec): Promise<string>;
  /** Stops a sandbox (StopPodSandbox). */
  stopSandbox(id: string): Promise<void>;
  /** Stops and removes a sandbox (RemovePodSandbox). */
  removeSandbox(id: string): Promise<void>;
  /** Creates and starts a container in sandbox `sandboxId`; returns its id. */
  runContainer(sandboxId: string, spec: ContainerSpec): Promise<string>;
  /** CRI `ListContainerStats` of one container. */
  containerStats(id: string): Promise<CriContainerStats>;
  /**
   * Removes every sandbox it made, stops containerd (SIGTERM, SIGKILL after 10 s), waits
   * for its shims to exit, unmounts what is left under the directory and removes it.
   */
  close(): Promise<void>;
}

const decoder = new TextDecoder();

/** What a `ctr` command did: its exit code and its stdout followed by its stderr. */
export interface CtrResult {
  code: number;
  out: string;
}

/** Runs `ctr` against the containerd at `socket`, in the namespace `namespace`. */
export async function ctr(socket: string, namespace: string, args: string[]): Promise<CtrResult> {
  const out = await new Deno.Command("ctr", {
    args: ["--address", socket, "-n", namespace, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, out: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/**
 * Stops a container `ctr run -d` started: SIGTERM to its task, a wait until the task has
 * stopped (60 s at most), then its task and the container deleted.
 */
export async function stopContainer(socket: string, namespace: string, id: string): Promise<void> {
  await ctr(socket, namespace, ["task", "kill", id]);
  await waitFor(`${id} to stop on SIGTERM`, async () => {
    const tasks = (await ctr(socket, namespace, ["task", "ls"])).out.split("\n");
    return !tasks.some((line) => line.startsWith(`${id} `) && !line.includes("STOPPED"));
  }, 60_000);
  await ctr(socket, namespace, ["task", "delete", id]);
  await ctr(socket, namespace, ["container", "delete", id]);
}

async function run(command: string, args: string[], what = command): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${what} failed (exit ${out.code}): ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout);
}

function configToml(dir: string, socket: string): string {
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"

[grpc]
  address = "${socket}"

[ttrpc]
  address = "${socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[${cri}.containerd]
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  Root = "${dir}/runc"

[${cri}.cni]
  bin_dir = "${dir}/cni/bin"
  conf_dir = "${dir}/cni/conf"
`;
}

/** PIDs of the shims serving this containerd (their command line names its socket). */
async function shimPids(socket: string): Promise<number[]> {
  const out = await new Deno.Command("pgrep", {
    args: ["-f", `containerd-shim.* -address ${socket}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return decoder.decode(out.stdout).split("\n").filter((l) => l.trim()).map(Number);
}

/** Mount points under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await run("cat", ["/proc/self/mounts"]);
  return text.split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .map((path) => path.replace(/\\040/g, " "))
    .filter((path) => path === dir || path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes the (by now empty) cgroup `parent` from every hierarchy under /sys/fs/cgroup,
 * children first, and returns what could not be removed. Through `find` and `rmdir`:
 * Deno asks for --allow-all to read /sys directly.
 */
async function removeCgroups(parent: string): Promise<string[]> {
  const name = parent.replace(/^\//, "");
  const out = await new Deno.Command("find", {
    // cgroup v2 mounted on /sys/fs/cgroup has the parent at depth 1, v1 in each hierarchy.
    args: ["/sys/fs/cgroup", "-maxdepth", "2", "-type", "d", "-name", name],
    stdout: "piped",
    stderr: "null",
  }).output();
  const problems: string[] = [];
  for (const path of decoder.decode(out.stdout).split("\n").filter((l) => l.trim())) {
    const removed = await new Deno.Command("find", {
      args: [path, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!removed.success) problems.push(`rmdir ${path}: ${decoder.decode(removed.stderr).trim()}`);
  }
  return problems;
}

async function waitFor(
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await ready())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Starts containerd in a new temporary directory, imports the pause image, and returns a
 * handle that makes sandboxes and cleans everything up. On failure it cleans up and throws
 * with containerd's log tail.
 */
export async function startContainerd(): Promise<Containerd> {
  const dir = await Deno.makeTempDir({ prefix: "agent-containerd-" });
  const socket = `${dir}/containerd.sock`;
  const log = `${dir}/containerd.log`;
  // Sandboxes' cgroups go under a parent of this run's own, removed by close().
  const cgroupParent = `/${dir.split("/").at(-1)}`;
  for (const sub of ["cni/bin", "cni/conf", "runc", "opt", "logs"]) {
    await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
  }
  await Deno.writeTextFile(`${dir}/config.toml`, configToml(dir, socket));
  const image = await buildImage(dir, PAUSE).catch(async (error) => {
    await Deno.remove(dir, { recursive: true });
    throw error;
  });

  const started = performance.now();
  // Through sh so that its output goes to a file and nothing here has to drain a pipe.
  const child = new Deno.Command("sh", {
    args: ["-c", 'exec containerd --config "$0/config.toml" >"$0/containerd.log" 2>&1', dir],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  // Should the test process end without close(), containerd must not outlive it.
  const onUnload = () => {
    try {
      if (!exited) Deno.kill(child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  globalThis.addEventListener("unload", onUnload);

  let fixtures:
    | { grpc: typeof Grpc; client: Grpc.Client; service: Grpc.ServiceDefinition }
    | undefined;
  const created = new Set<string>();
  /** Each sandbox's config, which CreateContainer takes again. */
  const sandboxConfigs = new Map<string, unknown>();
  let workloadImported: Promise<string> | undefined;
  const call = <T>(method: string, request: unknown, timeoutMs = 30_000): Promise<T> => {
    const { grpc, client, service } = fixtures!;
    const definition = service[method]!;
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (error, value) =>
          error ? reject(new Error(`CRI ${method}: ${error.message}`)) : resolve(value as T),
      );
    });
  };

  const close = async (): Promise<void> => {
    const problems: string[] = [];
    if (fixtures) {
      for (const id of created) {
        try {
          await call("StopPodSandbox", { podSandboxId: id });
          await call("RemovePodSandbox", { podSandboxId: id });
        } catch (error) {
          problems.push(String(error));
        }
      }
      created.clear();
      fixtures.client.close();
    }
    if (!exited) child.kill("SIGTERM");
    const timer = setTimeout(() => {
      if (!exited) child.kill("SIGKILL");
    }, 10_000);
    await status;
    clearTimeout(timer);
    globalThis.removeEventListener("unload", onUnload);
    try {
      await waitFor(
        "containerd's shims to exit",
        async () => (await shimPids(socket)).length === 0,
        10_000,
      );
    } catch (error) {
      problems.push(String(error));
      for (const pid of await shimPids(socket)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
    }
    // Nothing may stay mounted under the directory before it is removed recursively.
    for (const mount of await mountsUnder(dir)) {
      await run("umount", ["-l", mount]).catch((error) => problems.push(String(error)));
    }
    await Deno.remove(dir, { recursive: true });
    problems.push(...await removeCgroups(cgroupParent));
    if (problems.length > 0) throw new Error(`containerd cleanup: ${problems.join("; ")}`);
  };

  try {
    await waitFor("containerd to answer on its socket", async () => {
      if (exited) throw new Error("containerd exited at start");
      try {
        await Deno.stat(socket);
      } catch {
        return false;
      }
      const out = await new Deno.Command("ctr", {
        args: ["--address", socket, "version"],
        stdout: "null",
        stderr: "null",
      }).output();
      return out.success;
    }, 10_000);
    const startupMs = performance.now() - started;
    await run(
      "ctr",
      ["--address", socket, "-n", "k8s.io", "images", "import", image],
      "ctr images import",
    );
    const { grpc, service } = await loadService(CRI_FIXTURE_PROTO, "runtime.v1.RuntimeService");
    fixtures = {
      grpc,
      service,
      client: new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure()),
    };
    return {
      socket,
      dir,
      startupMs,
      async runSandbox(spec) {
        const config = {
          metadata: {
            name: spec.name,
            uid: spec.uid,
            namespace: spec.namespace,
            attempt: spec.attempt ?? 0,
          },
          // A hostname needs a private UTS namespace, which host-network pods do not get.
          hostname: "",
          logDirectory: `${dir}/logs/${spec.uid}`,
          labels: spec.labels ?? {},
          annotations: spec.annotations ?? {},
          linux: {
            cgroupParent,
            securityContext: {
              namespaceOptions: { network: "NODE", pid: "POD", ipc: "POD" },
            },
          },
        };
        const response = await call<{ podSandboxId: string }>("RunPodSandbox", {
          config,
          runtimeHandler: "",
        });
        created.add(response.podSandboxId);
        sandboxConfigs.set(response.podSandboxId, config);
        return response.podSandboxId;
      },
      async runContainer(sandboxId, spec) {
        const image = spec.image ?? WORKLOAD_IMAGE;
        if (image === WORKLOAD_IMAGE) {
          workloadImported ??= buildImage(dir, WORKLOAD).then((tar) =>
            run(
              "ctr",
              ["--address", socket, "-n", "k8s.io", "images", "import", tar],
              "ctr images import",
            )
          );
          await workloadImported;
        }
        const { containerId } = await call<{ containerId: string }>("CreateContainer", {
          podSandboxId: sandboxId,
          config: {
            metadata: { name: spec.name, attempt: 0 },
            image: { image },
            args: spec.args ?? [],
            labels: spec.labels ?? {},
            logPath: `${spec.name}.log`,
            linux: {
              resources: {
                cpuPeriod: spec.cpuQuotaUs === undefined ? 0 : 100_000,
                cpuQuota: spec.cpuQuotaUs ?? 0,
                memoryLimitInBytes: spec.memoryLimitBytes ?? 0,
              },
              securityContext: {
                namespaceOptions: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
              },
            },
          },
          sandboxConfig: sandboxConfigs.get(sandboxId),
        });
        await call("StartContainer", { containerId });
        return containerId;
      },
      async containerStats(id) {
        const { stats } = await call<{ stats: Record<string, Record<string, unknown>>[] }>(
          "ListContainerStats",
          { filter: { id } },
        );
        const one = stats.find((s) => (s.attributes as { id: string }).id === id);
        if (!one) throw new Error(`CRI ListContainerStats: no stats for container ${id}`);
        const value = (field: unknown) => (field as { value: string } | null)?.value ?? "0";
        return {
          cpuNanoseconds: BigInt(value(one.cpu!.usageCoreNanoSeconds)),
          cpuTimestamp: BigInt(String(one.cpu!.timestamp)),
          workingSetBytes: Number(value(one.memory!.workingSetBytes)),
          usageBytes: Number(value(one.memory!.usageBytes)),
        };
      },
      async stopSandbox(id) {
        await call("StopPodSandbox", { podSandboxId: id });
      },
      async removeSandbox(id) {
        await call("StopPodSandbox", { podSandboxId: id });
        await call("RemovePodSandbox", { podSandboxId: id });
        created.delete(id);
      },
      close,
    };
  } catch (error) {
    const tail = await Deno.readTextFile(log).then((t) => t.split("\n").slice(-15).join("\n"))
      .catch(() => "");
    await close().catch(() => {});
    throw new Error(
      `Cannot start containerd: ${error}${tail ? `\ncontainerd.log:\n${tail}` : ""}`,
      {
        cause: error,
      },
    );
  }
}
