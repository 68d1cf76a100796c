import { assertEquals } from "../../tests/support/assert.ts";
import type { RestartEvent } from "../kube/restarts.ts";
import { correlate, parseCgroup, type PodInfo, podInfo } from "./correlate.ts";

const T = new Date("2026-11-22T01:00:00Z");
const WINDOW = 5 * 60_000;
const UID = "1b2c3d4e-0000-4000-8000-000000000001";
const CID = "ab".repeat(32);

function pod(name: string, containers: string[], namespace = "prod"): PodInfo {
  return {
    namespace,
    name,
    uid: name === "prod-milvus-querynode-0" ? UID : null,
    instance: "prod-milvus",
    containers: containers.map((c, i) => ({ name: c, id: i === 0 ? CID : null })),
  };
}

function restart(podName: string, container: string, finishedAt: Date): RestartEvent {
  return {
    namespace: "prod",
    pod: podName,
    container,
    node: "node-1",
    instance: "prod-milvus",
    restartCount: 1,
    exitCode: 139,
    signal: null,
    reason: "Error",
    message: null,
    finishedAt: finishedAt.toISOString(),
    isPanic: true,
    evidence: "exit code 139",
  };
}

const PODS = [
  pod("prod-milvus-querynode-0", ["querynode", "sidecar"]),
  pod("prod-milvus-datanode-0", ["datanode"]),
];

Deno.test("parseCgroup() reads pod UID and container id from systemd and cgroupfs layouts", () => {
  assertEquals(
    parseCgroup(
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${
        UID.replaceAll("-", "_")
      }.slice/cri-containerd-${CID}.scope\n`,
    ),
    { podUid: UID, containerId: CID },
  );
  assertEquals(
    parseCgroup(`12:memory:/kubepods/besteffort/pod${UID}/${CID}\n11:cpu:/\n`),
    { podUid: UID, containerId: CID },
  );
  assertEquals(parseCgroup("0::/user.slice/user-0.slice/session-1.scope\n"), {});
});

Deno.test("correlate() by cgroup is high confidence and names the container by its id", () => {
  const c = correlate(
    { time: T, cgroup: { podUid: UID, containerId: CID } },
    PODS,
    [],
    WINDOW,
  );
  assertEquals([c.namespace, c.pod, c.container, c.instance], [
    "prod",
    "prod-milvus-querynode-0",
    "querynode",
    "prod-milvus",
  ]);
  assertEquals([c.match.method, c.match.confidence], ["cgroup", "high"]);
});

Deno.test("correlate() by hostname picks the container that restarted, or the only one", () => {
  const c = correlate(
    { time: T, hostname: "prod-milvus-querynode-0", comm: "milvus" },
    PODS,
    [restart("prod-milvus-querynode-0", "sidecar", new Date(T.getTime() + 20_000))],
    WINDOW,
  );
  assertEquals([c.pod, c.container, c.match.method, c.match.confidence], [
    "prod-milvus-querynode-0",
    "sidecar",
    "hostname",
    "high",
  ]);
  const only = correlate({ time: T, hostname: "prod-milvus-datanode-0" }, PODS, [], WINDOW);
  assertEquals([only.pod, only.container], ["prod-milvus-datanode-0", "datanode"]);
  const unknown = correlate({ time: T, hostname: "prod-milvus-querynode-0" }, PODS, [], WINDOW);
  assertEquals([unknown.pod, unknown.container], ["prod-milvus-querynode-0", null]);
  assertEquals(unknown.match.detail.includes("container unknown among querynode, sidecar"), true);
});

Deno.test("correlate() without a cluster takes the hostname at low confidence", () => {
  const c = correlate({ time: T, hostname: "querynode-7" }, [], [], WINDOW);
  assertEquals([c.pod, c.container, c.match.confidence], ["querynode-7", null, "low"]);
});

Deno.test("correlate() by restart window matches one restart and reports ambiguity", () => {
  const one = correlate(
    { time: T, hostname: "node-1" },
    PODS,
    [
      restart("prod-milvus-datanode-0", "datanode", new Date(T.getTime() - 60_000)),
      restart("prod-milvus-querynode-0", "querynode", new Date(T.getTime() - 3600_000)),
    ],
    WINDOW,
  );
  assertEquals([one.pod, one.container, one.match.method, one.match.confidence], [
    "prod-milvus-datanode-0",
    "datanode",
    "restart-window",
    "medium",
  ]);
  const two = [
    restart("prod-milvus-datanode-0", "datanode", T),
    restart("prod-milvus-querynode-0", "querynode", T),
  ];
  const ambiguous = correlate({ time: T }, PODS, two, WINDOW);
  assertEquals([ambiguous.pod, ambiguous.match.confidence], [null, "none"]);
  assertEquals(
    ambiguous.match.detail,
    "ambiguous: 2 containers restarted within 5 min: prod/prod-milvus-datanode-0/datanode, prod/prod-milvus-querynode-0/querynode",
  );
  const named = correlate({ time: T, comm: "querynode" }, PODS, two, WINDOW);
  assertEquals([named.pod, named.container], ["prod-milvus-querynode-0", "querynode"]);
  const none = correlate({ time: T }, PODS, [], WINDOW);
  assertEquals([none.pod, none.match.method], [null, "none"]);
});

Deno.test("correlate() with one hostname in two namespaces decides by restart or says ambiguous", () => {
  const pods = [pod("q-0", ["q"], "a"), pod("q-0", ["q"], "b")];
  const ambiguous = correlate({ time: T, hostname: "q-0" }, pods, [], WINDOW);
  assertEquals(ambiguous.match.detail, 'ambiguous: hostname "q-0" names pods in namespaces a, b');
  const r = { ...restart("q-0", "q", T), namespace: "b" };
  const decided = correlate({ time: T, hostname: "q-0" }, pods, [r], WINDOW);
  assertEquals([decided.namespace, decided.pod, decided.container], ["b", "q-0", "q"]);
});

Deno.test("podInfo() reads uid, instance, install kind, container ids and images from a cached pod", () => {
  assertEquals(
    podInfo({
      metadata: {
        name: "p",
        namespace: "n",
        uid: UID,
        labels: { "app.kubernetes.io/instance": "i" },
      },
      status: { containerStatuses: [{ name: "c", containerID: `containerd://${CID}` }] },
    }, ["app.kubernetes.io/instance"]),
    {
      namespace: "n",
      name: "p",
      uid: UID,
      instance: "i",
      kind: null,
      containers: [{ name: "c", id: CID, image: null }],
    },
  );
  const helm = podInfo({
    metadata: { name: "p", labels: { "helm.sh/chart": "milvus-4.1.0" } },
    spec: { containers: [{ name: "c", image: "milvusdb/milvus:v2.4.0" }] },
    status: { containerStatuses: [{ name: "c", image: "docker.io/milvusdb/milvus@sha256:00" }] },
  }, []);
  assertEquals([helm.kind, helm.containers[0]!.image], ["helm", "milvusdb/milvus:v2.4.0"]);
  const operator = podInfo({
    metadata: { name: "p", labels: { "app.kubernetes.io/managed-by": "milvus-operator" } },
    status: { containerStatuses: [{ name: "c", image: "milvusdb/milvus:v2.5.1" }] },
  }, []);
  assertEquals([operator.kind, operator.containers[0]!.image], [
    "operator",
    "milvusdb/milvus:v2.5.1",
  ]);
});

Deno.test("correlate() by the kernel's segfault line: high by pid, medium by name, after hostname", () => {
  const crash = {
    time: new Date(T.getTime() - 2000),
    pid: 31337,
    comm: "querynode",
    what: "segfault" as const,
    cgroup: { podUid: UID, containerId: CID },
    line: "querynode[31337]: segfault at 18 ip 00007f3a2c1d4e2a sp 00007f3a0bffe8d0 error 4",
  };
  const byPid = correlate(
    { time: T, comm: "querynode", kernel: { crash, by: "pid" } },
    PODS,
    [],
    WINDOW,
  );
  assertEquals([byPid.pod, byPid.container, byPid.match.method, byPid.match.confidence], [
    "prod-milvus-querynode-0",
    "querynode",
    "kernel-log",
    "high",
  ]);
  assertEquals(
    byPid.match.detail,
    `pod UID ${UID} from the cgroup of pid 31337 ("querynode"), which the kernel logged a ` +
      "segfault of at 2026-11-22T00:59:58.000Z; container id",
  );
  const byName = correlate({ time: T, kernel: { crash, by: "comm" } }, PODS, [], WINDOW);
  assertEquals([byName.pod, byName.match.method, byName.match.confidence], [
    "prod-milvus-querynode-0",
    "kernel-log",
    "medium",
  ]);
  // A hostname naming a pod on this node outranks a match by name only.
  const hostname = correlate(
    { time: T, hostname: "prod-milvus-datanode-0", kernel: { crash, by: "comm" } },
    PODS,
    [],
    WINDOW,
  );
  assertEquals([hostname.pod, hostname.match.method], ["prod-milvus-datanode-0", "hostname"]);
  // A pod no longer on this node: the line helps no more.
  const gone = correlate({ time: T, kernel: { crash, by: "pid" } }, [], [], WINDOW);
  assertEquals(gone.match.method, "none");
});
