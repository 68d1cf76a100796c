import { gunzipSync } from "node:zlib";
import { Gauge, Registry } from "prom-client";
import { assert, assertEquals, assertStringIncludes } from "../tests/support/assert.ts";
import { createApp } from "./app.ts";
import type { CoreRecord } from "../lib/store/core_index.ts";
import { MetricsAggregator } from "../lib/kata/mod.ts";
import { type MetricFamily, parsePrometheusText } from "../lib/prom/mod.ts";
import { renderShimMetrics } from "../tests/support/kata_metrics.ts";

function app(bearerToken?: string) {
  return createApp({
    registry: new Registry(),
    readiness: () => ({ state: true }),
    cores: () => [],
    bearerToken,
  });
}

async function get(
  a: ReturnType<typeof app>,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; type: string | null; auth: string | null }> {
  const response = await a.fetch(new Request(`http://localhost${path}`, { headers }));
  return {
    status: response.status,
    text: await response.text(),
    type: response.headers.get("content-type"),
    auth: response.headers.get("www-authenticate"),
  };
}

Deno.test("the index is plain text, or HTML when Accept asks for it", async () => {
  const plain = await get(app(), "/", { accept: "*/*" });
  assertEquals(plain.status, 200);
  assertEquals(plain.text.split("\n")[0], "Available HTTP endpoints:");
  assertStringIncludes(plain.text, "\n/metrics: the agent's and every sandbox's metrics");
  const html = await get(app(), "/", { accept: "application/xhtml+xml, text/html;q=0.9" });
  assertStringIncludes(html.type ?? "", "text/html");
  assertStringIncludes(html.text, '<li><a href="/metrics">/metrics</a>');
});

Deno.test("a bearer token guards every route but the health probes", async () => {
  const a = app("s3cret");
  for (const path of ["/healthz", "/readyz"]) assertEquals((await get(a, path)).status, 200);
  for (const path of ["/", "/metrics", "/cores"]) {
    const none = await get(a, path);
    assertEquals([none.status, none.text, none.auth], [
      401,
      "unauthorized: bearer token required\n",
      'Bearer realm="agent"',
    ]);
    const wrong = await get(a, path, { authorization: "Bearer s3cre" });
    assertEquals([wrong.status, wrong.text], [401, "unauthorized: wrong token\n"]);
    assertEquals((await get(a, path, { authorization: "Bearer s3cret" })).status, 200);
  }
  assertEquals((await get(app(), "/metrics")).status, 200);
});

Deno.test("/metrics shares one rendering of the agent's own metrics within ownMetricsMaxAgeMs", async () => {
  for (const [maxAge, renderings] of [[60_000, 1], [0, 5]] as const) {
    const registry = new Registry();
    let collected = 0;
    new Gauge({
      name: "agent_test_renderings",
      help: "Times the registry was rendered.",
      registers: [registry],
      collect() {
        this.set(++collected);
      },
    });
    const a = createApp({ registry, readiness: () => ({}), ownMetricsMaxAgeMs: maxAge });
    const texts = await Promise.all(Array.from({ length: 5 }, async (_, i) => {
      const headers: Record<string, string> = i % 2 ? { "accept-encoding": "gzip" } : {};
      const response = await a.fetch(new Request("http://localhost/metrics", { headers }));
      const bytes = await response.bytes();
      return new TextDecoder().decode(i % 2 ? gunzipSync(bytes) : bytes);
    }));
    assertEquals(collected, renderings);
    for (const text of texts) assertStringIncludes(text, "# TYPE agent_test_renderings gauge");
  }
});

Deno.test("/metrics without Kata answers plain, gzip and OpenMetrics", async () => {
  const registry = new Registry();
  new Gauge({ name: "agent_test_value", help: "A value.", registers: [registry] }).set(7);
  const a = createApp({ registry, readiness: () => ({}) });
  const plain = await (await a.fetch(new Request("http://localhost/metrics"))).text();
  assertStringIncludes(plain, "agent_test_value 7\n");
  const zipped = await a.fetch(
    new Request("http://localhost/metrics", { headers: { "accept-encoding": "gzip" } }),
  );
  assertEquals(zipped.headers.get("content-encoding"), "gzip");
  assertEquals(new TextDecoder().decode(gunzipSync(await zipped.bytes())), plain);
  const om = await get(a, "/metrics", { accept: "application/openmetrics-text" });
  assertStringIncludes(om.type ?? "", "application/openmetrics-text");
  assert(om.text.endsWith("agent_test_value 7\n# EOF\n"), om.text);
});

Deno.test("/cores escapes DEL and C1 controls a core put in its strings", async () => {
  const reason = "SIGSEGV in f\u009b2J\u007f()";
  const a = createApp({
    registry: new Registry(),
    readiness: () => ({}),
    cores: () => [{ crashReason: reason } as unknown as CoreRecord],
  });
  const response = await a.request("/cores");
  assertEquals(response.headers.get("content-type"), "application/json");
  const text = await response.text();
  assertEquals(/[\u007f-\u009f]/.test(text), false);
  assertEquals(JSON.parse(text)[0].crashReason, reason);
});

const BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

function core(fields: Partial<CoreRecord>): CoreRecord {
  return {
    id: 1,
    path: "/var/crash/core.1",
    identity: "1:1:1:1",
    size: 1024,
    state: "stored",
    firstSeen: "2026-01-01T11:59:00.000Z",
    updatedAt: "2026-01-01T11:59:30.000Z",
    crashTime: "2026-01-01T11:58:00.000Z",
    namespace: "milvus",
    pod: "querynode-0",
    container: "querynode",
    instance: "prod",
    node: "node-1",
    match: null,
    signal: "SIGSEGV",
    crashReason: "SIGSEGV at 0x0 in f()",
    fingerprint: "abc",
    score: 8.5,
    breakdown: [{ rule: "crashReason", points: 2, detail: "a clear crash reason" }],
    storedKey: "prod/core.zst",
    storedUri: "file:///var/lib/agent/cores/prod/core.zst",
    storedBytes: 2048,
    sha256: null,
    reason: null,
    error: null,
    attempts: 1,
    retryAt: null,
    originalDeleted: true,
    ...fields,
  };
}

Deno.test("/cores is a table with a chart for a browser, escaping what cores say", async () => {
  const evil = "<script>alert(1)</script>";
  const a = createApp({
    registry: new Registry(),
    readiness: () => ({}),
    now: () => Date.parse("2026-01-01T12:00:00Z"),
    cores: () => [core({}), core({ id: 2, pod: `<img src=x onerror="x()">`, crashReason: evil })],
  });
  const page = await get(a, "/cores", { accept: BROWSER });
  assertStringIncludes(page.type ?? "", "text/html");
  assert(!page.text.includes("<script>alert") && !page.text.includes("<img src=x"), page.text);
  assertStringIncludes(page.text, "&lt;script&gt;alert(1)&lt;/script&gt;");
  assertStringIncludes(page.text, "Cores per hour by crash group");
  assertStringIncludes(page.text, "<summary>8.5</summary>");
  assertStringIncludes(page.text, "+2 crashReason: a clear crash reason");
  assertStringIncludes(page.text, "2 min ago");
  // No script and nothing from elsewhere: a node has no internet.
  assert(!/<script|src="http|href="http/.test(page.text), "an external asset or a script");
  // curl, scripts: JSON as before, breakdown included.
  const json = await get(a, "/cores", { accept: "*/*" });
  assertEquals(json.type, "application/json");
  assertEquals(JSON.parse(json.text)[0].breakdown[0].rule, "crashReason");
});

Deno.test("/ is a status page for a browser: every feature, up or not and why", async () => {
  const a = createApp({
    registry: new Registry(),
    readiness: () => ({}),
    cores: () => [],
    status: () =>
      Promise.resolve({
        version: "0.1.0",
        node: "node-1",
        startedAt: "2026-01-01T00:00:00.000Z",
        features: [
          { name: "collector", title: "core collection", state: "up", reason: "", ready: true },
          {
            name: "kubernetes",
            title: "Kubernetes features",
            state: "off",
            reason: "No Kubernetes configuration",
            ready: false,
          },
          { name: "kata", title: "Kata", state: "failed", reason: "<boom>", ready: false },
        ],
      }),
  });
  const page = await get(a, "/", { accept: BROWSER });
  assertStringIncludes(page.text, "<title>agent on node-1 · agent</title>");
  assertStringIncludes(page.text, '<span class="badge off">off</span>');
  assertStringIncludes(page.text, '<span class="error">&lt;boom&gt;</span>');
  assertStringIncludes(page.text, "1 of 2");
  assertStringIncludes(page.text, "No cores in the last 24 hours.");
  assertEquals(
    (await get(a, "/", { accept: "*/*" })).text.split("\n")[0],
    "Available HTTP endpoints:",
  );
});

Deno.test("/metrics merges the sandboxes' and the host's container_* families under one header", async () => {
  const id = "a".repeat(64);
  const aggregator = new MetricsAggregator();
  aggregator.update([{
    id,
    text: renderShimMetrics(id, 1),
    scrapedAt: 0,
    pod: { uid: "u-1", name: "vm-0", namespace: "shop" },
  }]);
  const kata = {
    aggregate: () => aggregator,
    sandboxes: () => [],
    usage: () => undefined,
    lookup: () => "unknown" as const,
    fetchOne: () => Promise.resolve(new Uint8Array()),
  };
  const host: MetricFamily[] = [{
    name: "container_cpu_usage_seconds_total",
    help: "Cumulative cpu time consumed in seconds.",
    type: "counter",
    samples: [{
      name: "container_cpu_usage_seconds_total",
      labels: { container: "web", cpu: "total", id: "/kubepods/podu-2/c", pod: "web-0" },
      value: 12.5,
    }],
  }];
  const a = createApp({
    registry: new Registry(),
    readiness: () => ({}),
    kata: () => kata,
    families: () => Promise.resolve(host),
  });
  for (
    const [headers, variant] of [[{}, "text"], [{ "accept-encoding": "gzip" }, "gzip"]] as const
  ) {
    const response = await a.fetch(new Request("http://localhost/metrics", { headers }));
    const bytes = await response.bytes();
    const text = new TextDecoder().decode(variant === "gzip" ? gunzipSync(bytes) : bytes);
    const cpu = parsePrometheusText(text).filter((f) =>
      f.name === "container_cpu_usage_seconds_total"
    );
    assertEquals(cpu.length, 1, `one family (${variant})`);
    assertEquals(cpu[0]!.samples.map((s) => s.labels.pod), ["vm-0", "web-0"]);
  }
  const om = await get(a, "/metrics?filter_family=container_cpu_usage", {
    accept: "application/openmetrics-text",
  });
  const families = parsePrometheusText(om.text, { openMetrics: true });
  assertEquals(families.map((f) => [f.name, f.samples.length]), [
    ["container_cpu_usage_seconds", 2],
  ]);
});
