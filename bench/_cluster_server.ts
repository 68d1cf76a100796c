/**
 * A Kubernetes API emulator in its own process for the platform benchmark: seeds a cluster of
 * at least N objects of the sixteen watched kinds (applications as real ones look: a
 * Deployment, its ReplicaSet and pods with managed fields and environment, a Service, an
 * Ingress, a ConfigMap and a Secret, a claim and its volume, a CronJob with a Job, a
 * NetworkPolicy), prints its URL and the number of objects, then on each stdin line `churn M`
 * restarts a container of M pods in turn (one MODIFIED event each) and prints `churned M`.
 * It serves until stdin closes.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { KubeEmulator } from "../tests/support/kube/emulator.ts";
import type { Json } from "../tests/support/kube/_match.ts";
import { appObjects, namespaceObject, nodeObject } from "../tests/support/kube/cluster_fixtures.ts";

const wanted = Number(Deno.args[0] ?? "50000");
const emu = await KubeEmulator.start({ historyLimit: 100_000, bookmarkIntervalMs: 10_000 });
const pods: Json[] = [];
// The emulator's own default, kube-system and kube-public namespaces.
let count = 3;
for (let n = 0; n < 50; n++) {
  emu.put(nodeObject(`node-${n}`));
  count++;
}
for (let ns = 0; count < wanted; ns++) {
  const namespace = `team-${ns}`;
  emu.put(namespaceObject(namespace));
  count++;
  for (let a = 0; a < 20 && count < wanted; a++) {
    const objects = appObjects({
      namespace,
      app: `app-${a}`,
      node: `node-${(ns + a) % 50}`,
      replicas: 3,
      uidPrefix: `${ns}`.padStart(8, "0"),
    });
    for (const object of objects) {
      emu.put(object);
      if (object.kind === "Pod") pods.push(object);
      count++;
    }
  }
}
console.log(emu.url);
console.log(String(count));

/** Restarts the first container of pod `i`, as a kubelet reports a crash. */
function restarted(i: number): Json {
  const copy = structuredClone(pods[i]!);
  const statuses = (copy.status as { containerStatuses?: { restartCount?: number }[] })
    .containerStatuses ?? [];
  for (const s of statuses.slice(0, 1)) s.restartCount = (s.restartCount ?? 0) + 1;
  pods[i] = copy;
  return copy;
}

let next = 0;
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buffer = "";
for await (const chunk of lines) {
  buffer += chunk;
  let at: number;
  while ((at = buffer.indexOf("\n")) >= 0) {
    const [command, n] = buffer.slice(0, at).trim().split(" ");
    buffer = buffer.slice(at + 1);
    if (command !== "churn") continue;
    const m = Number(n);
    for (let j = 0; j < m; j++) {
      const i = next++ % pods.length;
      emu.put(restarted(i));
      // Lets the watches' writes go out while the changes are made.
      if (j % 500 === 499) await new Promise((r) => setTimeout(r, 0));
    }
    console.log(`churned ${m}`);
  }
}
await emu.close();
