import { assert, assertEquals, assertMatch, assertRejects } from "../../tests/support/assert.ts";
import {
  delay,
  fakeCri,
  type LogLine,
  recordingLogger,
  sandbox,
  until,
} from "../../tests/support/fake_cri.ts";
import { CriClient, CriError, type PodSandbox } from "./cri.ts";
import { CriMetadataCache } from "./cri_cache.ts";

Deno.test("CriMetadataCache fills a new sandbox's metadata one interval after it appears", async () => {
  const listed = [sandbox("a")];
  const fake = await fakeCri({ ListPodSandbox: () => ({ items: listed }) });
  const client = new CriClient(fake.socket);
  const controller = new AbortController();
  const cache = new CriMetadataCache({ client, syncIntervalMs: 200 });
  const loop = cache.run(controller.signal);
  try {
    await until("the initial sync", () => cache.get("a") !== undefined);
    assertEquals(cache.get("a"), { uid: "uid-a", name: "pod-a", namespace: "default" });
    assertEquals(fake.calls.ListPodSandbox, 1);
    // Known sandboxes that all have metadata cause no calls.
    cache.onSandboxesChanged(["a"]);
    await delay(450);
    assertEquals(fake.calls.ListPodSandbox, 1);

    listed.push(sandbox("b"));
    cache.onSandboxesChanged(["a", "b"]);
    const elapsed = await until("b's metadata", () => cache.get("b") !== undefined);
    assert(elapsed >= 150, `filled after ${elapsed} ms`);
    assertEquals(fake.calls.ListPodSandbox, 2);
    assertEquals(cache.stats().missing, 0);
    assertEquals(cache.stats().sandboxes, 2);
    assertEquals(cache.stats().refreshes, 2);
  } finally {
    controller.abort();
    await loop;
    await client.close();
    await fake.close();
  }
});

Deno.test("CriMetadataCache retries every interval while a known sandbox lacks metadata", async () => {
  const listed = [sandbox("a")];
  const fake = await fakeCri({ ListPodSandbox: () => ({ items: listed }) });
  const client = new CriClient(fake.socket);
  const controller = new AbortController();
  const cache = new CriMetadataCache({ client, syncIntervalMs: 100 });
  cache.onSandboxesChanged(["a", "late"]);
  const loop = cache.run(controller.signal);
  try {
    await delay(560);
    // At start, then every 100 ms: 6 calls, give or take timer slack.
    const calls = fake.calls.ListPodSandbox;
    assert(calls >= 3 && calls <= 7, `${calls} calls`);
    assertEquals(cache.stats().missing, 1);
    listed.push(sandbox("late"));
    await until("late's metadata", () => cache.get("late") !== undefined, 1000);
    const settled = fake.calls.ListPodSandbox;
    await delay(300);
    assertEquals(fake.calls.ListPodSandbox, settled, "no calls once nothing is missing");
    // A runtime's item without metadata counts as missing.
    listed.push({ id: "bare" });
    cache.onSandboxesChanged(["a", "late", "bare"]);
    await delay(250);
    assertEquals(cache.get("bare"), undefined);
    assert(fake.calls.ListPodSandbox > settled);
  } finally {
    controller.abort();
    await loop;
    await client.close();
    await fake.close();
  }
});

Deno.test("CriMetadataCache keeps last-known metadata while the runtime is down, then recovers", async () => {
  const listed = [sandbox("a")];
  const fake = await fakeCri({ ListPodSandbox: () => ({ items: listed }) });
  const client = new CriClient(fake.socket, { timeoutMs: 500 });
  const lines: LogLine[] = [];
  const controller = new AbortController();
  const cache = new CriMetadataCache({
    client,
    syncIntervalMs: 100,
    logger: recordingLogger(lines),
  });
  cache.onSandboxesChanged(["a"]);
  const loop = cache.run(controller.signal);
  try {
    await until("the initial sync", () => cache.get("a") !== undefined);
    await fake.stop();
    cache.onSandboxesChanged(["a", "b"]);
    await until("three failures", () => cache.stats().failures >= 3);
    assertEquals(cache.get("a"), { uid: "uid-a", name: "pod-a", namespace: "default" });
    assertEquals(cache.get("b"), undefined);
    // A manual refresh reports the failure; the metadata stays.
    await assertRejects(() => cache.refresh(), CriError, "Cannot reach the CRI runtime at");
    assertEquals(cache.entries().size, 1);
    const warnings = lines.filter((l) => l.level === "warn");
    assertEquals(warnings.length, 1, JSON.stringify(lines));
    assertEquals(warnings[0]!.message, "Pod metadata sync from the CRI runtime failed");
    assertEquals(warnings[0]!.fields?.endpoint, fake.socket);
    assertMatch(String(warnings[0]!.fields?.error), /14 UNAVAILABLE/);
    assert(cache.stats().consecutiveFailures >= 3);

    listed.push(sandbox("b"));
    await fake.start();
    // gRPC's reconnect backoff is capped at 2 s.
    await until("b's metadata after the runtime is back", () => cache.get("b") !== undefined, 5000);
    const infos = lines.filter((l) => l.level === "info");
    assertEquals(infos.map((l) => l.message), ["Pod metadata sync from the CRI runtime recovered"]);
    assertEquals(lines.filter((l) => l.level === "warn").length, 1);
    assertEquals(cache.stats().consecutiveFailures, 0);
    assertEquals(cache.stats().lastError, "");
  } finally {
    controller.abort();
    await loop;
    await client.close();
    await fake.close();
  }
});

Deno.test("CriMetadataCache stays empty and quiet when the runtime was never there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-cri-" });
  const client = new CriClient(`${dir}/containerd.sock`);
  const lines: LogLine[] = [];
  const controller = new AbortController();
  const cache = new CriMetadataCache({
    client,
    syncIntervalMs: 50,
    logger: recordingLogger(lines),
  });
  cache.onSandboxesChanged(["x", "y"]);
  const loop = cache.run(controller.signal);
  try {
    await until("failures", () => cache.stats().failures >= 4);
    assertEquals(cache.entries().size, 0);
    assertEquals(cache.stats().missing, 2);
    assertEquals(lines.filter((l) => l.level !== "debug").length, 1);
  } finally {
    controller.abort();
    await loop;
    await client.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CriMetadataCache.run() stops promptly, even during a hanging call", async () => {
  const fake = await fakeCri({ ListPodSandbox: () => new Promise(() => {}) });
  const client = new CriClient(fake.socket, { timeoutMs: 600_000 });
  const cache = new CriMetadataCache({ client, syncIntervalMs: 100 });
  const controller = new AbortController();
  const loop = cache.run(controller.signal);
  try {
    await until("the call", () => fake.calls.ListPodSandbox === 1);
    await assertRejects(() => cache.run(controller.signal), Error, "already running");
    const started = performance.now();
    controller.abort();
    await loop;
    // Far below the call's deadline: the abort ended it, not the deadline.
    assert(performance.now() - started < 300_000);
    assertEquals(cache.stats().failures, 0, "a cancelled call is not a failure");
  } finally {
    controller.abort();
    await loop;
    await client.close();
    await fake.close();
  }
});

Deno.test("CriMetadataCache shares one call between concurrent refreshes", async () => {
  let calls = 0;
  const client = {
    endpoint: "/fake.sock",
    async listPodSandboxes(): Promise<PodSandbox[]> {
      calls++;
      await delay(20);
      return [];
    },
  };
  const cache = new CriMetadataCache({ client });
  await Promise.all([cache.refresh(), cache.refresh(), cache.refresh()]);
  assertEquals(calls, 1);
  await cache.refresh();
  assertEquals(calls, 2);
});

// --- against a real containerd ------------------------------------------------------------
