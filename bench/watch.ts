/**
 * Watch benchmark: the restart detector against a Kubernetes API emulator in another
 * process. Measures the initial list of 5,000 pods, the memory the informer's cache takes per
 * pod (slimmed, as the agent caches them, and whole, for comparison; client-go's informer
 * holds about 36 KB per pod), and the restart events per second it processes.
 *
 * Run: deno task bench:watch [PODS] [EVENTS]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { KubeClient, type KubeObject, watchRestarts } from "../lib/kube/mod.ts";
import { startEmulatorProcess } from "./_emulator_process.ts";

const pods = Number(Deno.args[0] ?? "5000");
const events = Number(Deno.args[1] ?? "20000");

const emulator = await startEmulatorProcess(pods);
const url = emulator.url;
const target = {
  server: url,
  namespace: "default",
  source: "bench",
  headers: () => Promise.resolve({}),
};

function rssMB(): number {
  return Deno.memoryUsage().rss / 2 ** 20;
}

async function settle(): Promise<number> {
  // Several collections so that what remains is what the cache holds.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 200));
    (globalThis as { gc?: () => void }).gc?.();
  }
  return Deno.memoryUsage().heapUsed / 2 ** 20;
}

async function measure(slim: boolean) {
  const heapBefore = await settle();
  const rssBefore = rssMB();
  const stop = new AbortController();
  let restarts = 0;
  const informer = watchRestarts({
    client: new KubeClient(target),
    selectors: ["app.kubernetes.io/name=milvus"],
    panicKeywords: ["panic"],
    instanceLabels: ["app.kubernetes.io/instance"],
    onRestart: () => void restarts++,
    informer: slim ? {} : { transform: (pod: KubeObject) => pod },
  });
  const started = performance.now();
  const running = informer.run(stop.signal);
  await informer.synced;
  const listMs = performance.now() - started;
  const heapAfter = await settle();
  const rssAfter = rssMB();
  let rate = 0;
  if (slim) {
    const t0 = performance.now();
    await emulator.churn(events);
    while (restarts < events) await new Promise((r) => setTimeout(r, 5));
    rate = events / ((performance.now() - t0) / 1000);
  }
  stop.abort();
  await running;
  return {
    cached: informer.cache.size,
    listMs: Math.round(listMs),
    heapKBPerPod: Math.round(((heapAfter - heapBefore) * 1024) / informer.cache.size * 10) / 10,
    rssGrowthMB: Math.round((rssAfter - rssBefore) * 10) / 10,
    rssMB: Math.round(rssAfter * 10) / 10,
    eventsPerSecond: Math.round(rate),
  };
}

const slim = await measure(true);
const whole = await measure(false);
console.log(`| cache | pods | initial list | heap per pod | RSS growth | RSS | restart events/s |`);
console.log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const [name, r] of [["slimmed (the agent)", slim], ["whole objects", whole]] as const) {
  console.log(
    `| ${name} | ${r.cached} | ${r.listMs} ms | ${r.heapKBPerPod} KB | ${r.rssGrowthMB} MB | ${r.rssMB} MB | ${
      r.eventsPerSecond || "-"
    } |`,
  );
}
await emulator.close();
