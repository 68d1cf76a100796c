import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../tests/support/assert.ts";
import type { MetricFamily } from "../prom/mod.ts";
import { SqliteBaselines } from "./baselines.ts";
import { FILL_RULES, VECTOR_RULES } from "./rules.ts";
import { AnomalyWatch } from "./watch.ts";

function gauge(name: string, samples: [Record<string, string>, number][]): MetricFamily {
  return {
    name,
    help: "",
    type: "gauge",
    samples: samples.map(([labels, value]) => ({ name, labels, value })),
  };
}

/** A node at minute `i`: load with a rhythm, a disk filling 0.1% a minute, two GPUs. */
function node(i: number, load = 1 + 0.3 * Math.sin(i / 30) + (i % 7) / 50): MetricFamily[] {
  const disk = { device: "/dev/sda1", mountpoint: "/", fstype: "ext4" };
  return [
    gauge("node_load1", [[{}, load]]),
    gauge("node_filesystem_avail_bytes", [[disk, 1e9 * (1 - 0.3 - i / 1000)], [
      { ...disk, mountpoint: "/run", fstype: "tmpfs" },
      5,
    ]]),
    gauge("node_filesystem_size_bytes", [[disk, 1e9], [
      { ...disk, mountpoint: "/run", fstype: "tmpfs" },
      10,
    ]]),
    gauge("DCGM_FI_DEV_GPU_TEMP", [[{ gpu: "0" }, 60 + (i % 5)], [{ gpu: "1" }, 61]]),
    gauge("DCGM_FI_DEV_POWER_USAGE", [[{ gpu: "0" }, 200 + (i % 3)], [{ gpu: "1" }, 199]]),
    gauge("DCGM_FI_DEV_GPU_UTIL", [[{ gpu: "0" }, 90], [{ gpu: "1" }, 90 + (i % 2)]]),
  ];
}

function sample(families: MetricFamily[], name: string, labels: Record<string, string>) {
  return families.find((f) => f.name === name)?.samples.find((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value;
}

Deno.test("AnomalyWatch scores series, flags a spike active for the hold time, forecasts the fill", () => {
  const watch = new AnomalyWatch({
    series: [{ name: "node_load1", expression: "node_load1" }],
    vectors: VECTOR_RULES,
    fills: FILL_RULES,
    holdSeconds: 300,
    threshold: 0.4,
  });
  for (let i = 0; i < 400; i++) watch.observe(node(i), i * 60);
  let out = watch.families();
  assertEquals(sample(out, "agent_anomaly_active", { series: "node_load1" }), 0);
  const fill = sample(out, "agent_forecast_seconds_to_full", { resource: "filesystem" })!;
  // 30% + 39.9% used, 0.1% more a minute: full in about 301 minutes.
  assert(Math.abs(fill - 301 * 60) < 120, `${fill}`);
  assertEquals(
    out.find((f) => f.name === "agent_forecast_seconds_to_full")!.samples.length,
    1,
    "tmpfs is not forecast",
  );
  assertEquals(sample(out, "agent_anomaly_series", {}), 4);
  watch.observe(node(400, 9), 400 * 60);
  out = watch.families();
  assert(sample(out, "agent_anomaly_score", { series: "node_load1" })! >= 0.4);
  assertEquals(sample(out, "agent_anomaly_active", { series: "node_load1" }), 1);
  for (let i = 401; i < 405; i++) watch.observe(node(i), i * 60);
  assertEquals(sample(watch.families(), "agent_anomaly_active", { series: "node_load1" }), 1);
  for (let i = 405; i < 410; i++) watch.observe(node(i), i * 60);
  assertEquals(sample(watch.families(), "agent_anomaly_active", { series: "node_load1" }), 0);
  assert(sample(watch.families(), "agent_anomaly_score", { series: "gpu", gpu: "0" })! >= 0);
});

Deno.test("AnomalyWatch keeps at most maxSeries and forgets series gone for long", () => {
  const watch = new AnomalyWatch({
    series: [{ name: "x", expression: "x" }],
    maxSeries: 3,
    forgetSeconds: 100,
  });
  const five = gauge("x", [1, 2, 3, 4, 5].map((n) => [{ n: String(n) }, n]));
  watch.observe([five], 0);
  assertEquals([watch.size, sample(watch.families(), "agent_anomaly_series_dropped", {})], [3, 2]);
  assertEquals(watch.families()[0]!.samples.length, 3);
  watch.observe([], 50);
  assertEquals([watch.size, watch.families()[0]!.samples.length], [3, 0]);
  watch.observe([gauge("x", [[{ n: "9" }, 1]])], 200);
  assertEquals(watch.size, 1);
});

Deno.test("AnomalyWatch resumes from the baselines in the state database", () => {
  const db = new DatabaseSync(":memory:");
  const options = {
    series: [{ name: "node_load1", expression: "node_load1" }],
    fills: FILL_RULES,
    store: new SqliteBaselines(db),
  };
  const first = new AnomalyWatch(options);
  const straight = new AnomalyWatch({ ...options, store: undefined });
  for (let i = 0; i < 300; i++) {
    first.observe(node(i), i * 60);
    straight.observe(node(i), i * 60);
  }
  first.save(Date.now());
  assertEquals(new SqliteBaselines(db).count(), 2);
  const second = new AnomalyWatch(options);
  for (let i = 300; i < 320; i++) {
    second.observe(node(i), i * 60);
    straight.observe(node(i), i * 60);
  }
  assertEquals(second.families(), straight.families());
  // Rows not written for longer than the store keeps them are deleted.
  new SqliteBaselines(db, 1).save([], Date.now() + 2 * 86_400_000);
  assertEquals(new SqliteBaselines(db).count(), 0);
  db.close();
});
