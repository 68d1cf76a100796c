/**
 * A Kubernetes API emulator in its own process for the watch benchmark: seeds N Milvus pods,
 * prints its URL, then on each stdin line `churn M` restarts M pods (one MODIFIED event each)
 * and prints `churned M`.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { KubeEmulator } from "../tests/support/kube/emulator.ts";
import { helmPod } from "../tests/support/kube/fixtures.ts";

const pods = Number(Deno.args[0] ?? "5000");
const emu = await KubeEmulator.start({ historyLimit: 100_000, bookmarkIntervalMs: 5_000 });
emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
const counts = new Array<number>(pods).fill(0);

/** Pads a fixture pod to the size of a real Milvus pod (about 8 KB of JSON with managedFields). */
function realistic(pod: Record<string, unknown>): Record<string, unknown> {
  const meta = pod.metadata as Record<string, unknown>;
  meta.annotations = {
    "checksum/config": "3f0c8a".repeat(10),
    "kubectl.kubernetes.io/default-container": "querynode",
    "prometheus.io/scrape": "true",
  };
  meta.managedFields = ["kube-controller-manager", "kubelet", "helm"].map((manager) => ({
    manager,
    operation: "Update",
    apiVersion: "v1",
    time: "2026-11-22T00:00:00Z",
    fieldsType: "FieldsV1",
    fieldsV1: Object.fromEntries(
      Array.from({ length: 25 }, (_, i) => [`f:field${i}`, { ".": {}, "f:sub": {} }]),
    ),
  }));
  const container = (pod.spec as { containers: Record<string, unknown>[] }).containers[0]!;
  container.env = Array.from(
    { length: 30 },
    (_, i) => ({ name: `MILVUS_SETTING_${i}`, value: `value-${i}` }),
  );
  container.volumeMounts = Array.from(
    { length: 6 },
    (_, i) => ({ name: `vol-${i}`, mountPath: `/milvus/data/${i}` }),
  );
  container.resources = {
    limits: { cpu: "8", memory: "32Gi" },
    requests: { cpu: "4", memory: "16Gi" },
  };
  (pod.spec as Record<string, unknown>).volumes = Array.from(
    { length: 6 },
    (_, i) => ({ name: `vol-${i}`, emptyDir: {} }),
  );
  (pod.status as Record<string, unknown>).conditions = [
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
  ].map((
    type,
  ) => ({ type, status: "True", lastTransitionTime: "2026-11-22T00:00:00Z" }));
  return pod;
}
for (let i = 0; i < pods; i++) {
  emu.put(
    helmPod(`release-${i % 50}`, `pod-${i}`, { component: "querynode", node: `node-${i % 20}` }),
  );
}
console.log(emu.url);
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buffer = "";
for await (const chunk of lines) {
  buffer += chunk;
  let at: number;
  while ((at = buffer.indexOf("\n")) >= 0) {
    const [command, n] = buffer.slice(0, at).trim().split(" ");
    buffer = buffer.slice(at + 1);
    if (command === "churn") {
      const m = Number(n);
      for (let j = 0; j < m; j++) {
        const i = j % pods;
        counts[i]!++;
        emu.put(realistic(helmPod(`release-${i % 50}`, `pod-${i}`, {
          component: "querynode",
          node: `node-${i % 20}`,
          restarts: counts[i],
          terminated: { reason: "Error", exitCode: 139 },
        })));
        if (j % 500 === 499) await new Promise((r) => setTimeout(r, 0));
      }
      console.log(`churned ${m}`);
    }
  }
}
await emu.close();
