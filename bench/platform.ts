/**
 * Platform benchmark: the cluster's resource graph against a Kubernetes API emulator in
 * another process seeded with N objects of the sixteen watched kinds
 * (`bench/_cluster_server.ts`), streamed to the platform emulator in a third process
 * (`bench/_platform_server.ts`, which checks every JWT assertion and token). Measures:
 *
 * 1. memory per watched object: the informers' caches plus the graph (SQLite in memory), as
 *    the growth of the heap and of the RSS over the initial list, per object;
 * 2. building the snapshot of the graph (the JSON text the platform receives), and sending it;
 * 3. events per second end to end: M pod restarts in the emulator, watched, applied to the
 *    graph, buffered, through the token bucket at a raised limit, sent over HTTP with a
 *    JWT-bearer token, until the platform has every one.
 *
 * Run: deno task bench:platform [OBJECTS] [EVENTS] [--rate R] [--burst B]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { generateKeyPairSync } from "node:crypto";
import { cpuUsage } from "node:process";
import { KubeClient } from "../lib/kube/mod.ts";
import { collectionPath, ResourceGraph, watchCluster, WATCHED_KINDS } from "../lib/cluster/mod.ts";
import {
  HttpTransport,
  PlatformCredentials,
  PlatformHttp,
  type SnapshotHeader,
  snapshotText,
  Streamer,
} from "../lib/platform/mod.ts";
import { createLogger } from "../lib/log.ts";

const positional = Deno.args.filter((a, i) =>
  !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--")
);
const option = (name: string, fallback: number) => {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 ? Number(Deno.args[at + 1]) : fallback;
};
const wanted = Number(positional[0] ?? "50000");
const events = Number(positional[1] ?? "50000");
const rate = option("rate", 50_000);
const burst = option("burst", 1000);

/** A helper process talked to by lines on stdin and stdout. */
function spawn(script: string, args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-q", "--allow-net=127.0.0.1", "--allow-read", "--allow-env", script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  let pending = "";
  const line = async () => {
    while (!pending.includes("\n")) {
      const { done, value } = await output.read();
      if (done) throw new Error(`${script} exited`);
      pending += value;
    }
    const at = pending.indexOf("\n");
    const text = pending.slice(0, at);
    pending = pending.slice(at + 1);
    return text;
  };
  return {
    line,
    ask: async (command: string) => {
      await writer.write(new TextEncoder().encode(command + "\n"));
      return await line();
    },
    close: async () => {
      await writer.close();
      await output.cancel();
      await child.status;
    },
  };
}

async function settle(): Promise<{ heap: number; rss: number }> {
  // Several collections so that what remains is what is held.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 200));
    (globalThis as { gc?: () => void }).gc?.();
  }
  const m = Deno.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
const cluster = spawn(new URL("./_cluster_server.ts", import.meta.url).pathname, [
  String(wanted),
]);
const platform = spawn(new URL("./_platform_server.ts", import.meta.url).pathname, [
  JSON.stringify(publicKey.export({ format: "jwk" })),
]);
const kubeUrl = await cluster.line();
const seeded = Number(await cluster.line());
const platformUrl = await platform.line();
const client = new KubeClient({
  server: kubeUrl,
  namespace: "default",
  source: "bench",
  headers: () => Promise.resolve({}),
});

// The objects as the API serves them, for their size.
let rawBytes = 0;
let rawCount = 0;
for (const kind of WATCHED_KINDS) {
  const text = await (await fetch(`${kubeUrl}${collectionPath(kind)}`)).text();
  rawBytes += text.length;
  rawCount += (JSON.parse(text) as { items: unknown[] }).items.length;
}

// 1. Memory per watched object.
const before = await settle();
const graph = new ResourceGraph();
const watch = watchCluster({ client, graph });
const stop = new AbortController();
const listStarted = performance.now();
const watching = watch.run(stop.signal);
await watch.synced;
const listMs = performance.now() - listStarted;
const after = await settle();
const objects = graph.size;
const storeBytes = graph.storageBytes();

// 2. The snapshot: built (text pieces, as sent), then sent.
const header: SnapshotHeader = {
  cluster_uid: "bench",
  cluster_name: "bench",
  kubernetes_version: "v1.34.0",
  platform: "kind",
  region: "",
  agent_version: "bench",
};
const builds: number[] = [];
let snapshotChars = 0;
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  snapshotChars = 0;
  for (const piece of snapshotText(header, graph, new Date())) snapshotChars += piece.length;
  builds.push(performance.now() - t0);
}
const log = createLogger({ level: "warn", format: "text" });
const http = new PlatformHttp({
  url: platformUrl,
  credentials: () => new PlatformCredentials("bench", privateKey),
});
const transport = new HttpTransport(http, () => "bench");
const sends: number[] = [];
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  await transport.snapshot(header, graph, stop.signal);
  sends.push(performance.now() - t0);
}

// 3. Events end to end through the bucket.
const counts = { sent: 0, dropped: 0, retried: 0 };
const streamer = new Streamer({
  graph,
  transport,
  header: () => Promise.resolve(header),
  log,
  bufferSize: Math.max(1000, events * 2),
  eventsPerSecond: rate,
  burstSize: burst,
  heartbeatIntervalMs: 60_000,
  hooks: {
    sent: (_kind, n) => void (counts.sent += n),
    dropped: (_kind, _reason, n) => void (counts.dropped += n),
    retried: (_kind, n) => void (counts.retried += n),
  },
});
const streaming = new AbortController();
const streamed = streamer.run(streaming.signal);
// The first snapshot of the term goes first: wait for it before the changes.
while (streamer.state().lastSnapshotAt === undefined) await new Promise((r) => setTimeout(r, 20));
let applied = 0;
let appliedMs = 0;
const churnStartedRef = { at: 0 };
const unsubscribe = graph.subscribe(() => {
  if (++applied === events) appliedMs = performance.now() - churnStartedRef.at;
});
const received0 = Number(await platform.ask("count"));
const churnStarted = performance.now();
const churnCpu = cpuUsage();
churnStartedRef.at = churnStarted;
await cluster.ask(`churn ${events}`);
const churnMs = performance.now() - churnStarted;
let received = 0;
while ((received = Number(await platform.ask("count")) - received0) < events) {
  if (counts.dropped > 0) break;
  await new Promise((r) => setTimeout(r, 20));
}
const e2eMs = performance.now() - churnStarted;
const e2eCpu = cpuUsage(churnCpu);
unsubscribe();
stop.abort();
await watching;

// The same through the agent's side only: pod restarts applied to the graph as the informer
// applies them, as fast as the bucket and the platform take them.
// The updates are made beforehand: decoding them is the watch's part, measured above.
const podsNow = [...graph.list("Pod")];
let rv = 1e9;
const updates = Array.from({ length: events }, (_, i) => {
  const pod = structuredClone(podsNow[i % podsNow.length]!);
  pod.metadata.resourceVersion = String(rv++);
  const statuses =
    (pod.status as { containerStatuses?: { restartCount?: number }[] }).containerStatuses ?? [];
  for (const c of statuses.slice(0, 1)) c.restartCount = (c.restartCount ?? 0) + 1 + i;
  return pod;
});
const direct0 = Number(await platform.ask("count"));
const directStarted = performance.now();
const directCpu0 = cpuUsage();
for (const [i, pod] of updates.entries()) {
  graph.apply("MODIFIED", pod);
  // Lets the streamer send while changes come, as a watch's reads would.
  if (i % 500 === 499) await new Promise((r) => setTimeout(r, 0));
}
let direct = 0;
while ((direct = Number(await platform.ask("count")) - direct0) < events) {
  if (counts.dropped > 0) break;
  await new Promise((r) => setTimeout(r, 20));
}
const directMs = performance.now() - directStarted;
const directCpu = cpuUsage(directCpu0);
streaming.abort();
await streamed;
graph.close();
await cluster.close();
await platform.close();

const perObjectHeap = (after.heap - before.heap) / objects;
const perObjectRss = (after.rss - before.rss) / objects;
console.log(`| measure | value | notes |`);
console.log(`| --- | ---: | --- |`);
console.log(
  `| objects in the graph | ${objects} | ${seeded} seeded; as served ${
    Math.round(rawBytes / rawCount)
  } B of JSON each on average (${mb(rawBytes)} MB) |`,
);
console.log(`| initial list of the 16 kinds | ${Math.round(listMs)} ms | |`);
const perObjectStore = storeBytes / objects;
/** The agent process's CPU time per event, in µs: what a busy machine does not change. */
const cpuPer = (cpu: { user: number; system: number }, n: number) =>
  Math.round((cpu.user + cpu.system) / Math.max(1, n));
console.log(
  `| memory per object in the store | ${Math.round(perObjectHeap + perObjectStore)} B | ` +
    `heap ${Math.round(perObjectHeap)} B (informer stubs, keys) + SQLite pages ${
      Math.round(perObjectStore)
    } B (bodies, relationships, label index); goal ≤ 2048 B: ${
      perObjectHeap + perObjectStore <= 2048 ? "met" : "**NOT met**"
    } |`,
);
console.log(
  `| RSS growth per object | ${Math.round(perObjectRss)} B | ` +
    `the above plus what the allocator kept from the initial lists |`,
);
console.log(`| RSS after the list | ${mb(after.rss)} MB | before: ${mb(before.rss)} MB |`);
console.log(
  `| snapshot build (median of 5) | ${Math.round(median(builds))} ms | ${
    mb(snapshotChars)
  } MB of JSON; min … max ${Math.round(Math.min(...builds))} … ${
    Math.round(Math.max(...builds))
  } ms |`,
);
console.log(
  `| snapshot sent over HTTP (median of 3) | ${
    Math.round(median(sends))
  } ms | streamed, platform parses it |`,
);
console.log(
  `| events end to end | ${Math.round(received / (e2eMs / 1000))} /s | ${received} of ${events} ` +
    `pod restarts, bucket ${rate}/s burst ${burst}, ${counts.dropped} dropped, ${counts.retried} ` +
    `retried, agent CPU ${cpuPer(e2eCpu, received)} µs/event; goal ≥ 5000/s: ${
      received >= events && received / (e2eMs / 1000) >= 5000 ? "met" : "**NOT met**"
    } |`,
);
console.log(
  `| events, graph to platform | ${
    Math.round(direct / (directMs / 1000))
  } /s | ${direct} of ${events} ` +
    `pod updates applied to the graph in process, then bucket, HTTP, platform; ${counts.dropped} ` +
    `dropped, agent CPU ${cpuPer(directCpu, direct)} µs/event; goal ≥ 5000/s: ${
      direct >= events && direct / (directMs / 1000) >= 5000 ? "met" : "**NOT met**"
    } |`,
);
console.log(
  `| changes watched into the graph | ${
    Math.round(applied / (appliedMs / 1000))
  } /s | ${applied} |`,
);
console.log(
  `| emulator making the changes | ${Math.round(events / (churnMs / 1000))} /s | ` +
    `the source's own rate, on the same cores |`,
);
