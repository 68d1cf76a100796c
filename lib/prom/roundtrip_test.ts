import fc from "fast-check";
import { assertEquals } from "../../tests/support/assert.ts";
import { renderShimMetrics } from "../../tests/support/kata_metrics.ts";
import { families } from "../../tests/support/prom_fixtures.ts";
import type { MetricFamily } from "./model.ts";
import { parsePrometheusText, serializePrometheusText } from "./mod.ts";

Deno.test("parse(serialize(x)) gives x back for a realistic multi-shim payload", () => {
  const text = ["a", "b", "c"].map((id, tick) =>
    renderShimMetrics(id, tick, { labels: { sandbox_id: id, cri_uid: "" } })
  ).join("");
  const families = parsePrometheusText(text);
  assertEquals(families.reduce((sum, f) => sum + f.samples.length, 0), 450);
  for (const openMetrics of [false, true]) {
    assertEquals(
      parsePrometheusText(serializePrometheusText(families, { openMetrics }), { openMetrics }),
      openMetrics ? families.map(toOpenMetrics) : families,
    );
  }
});

/**
 * What a 0.0.4 family becomes in OpenMetrics: untyped is unknown, a counter's family name loses
 * `_total` (unless another family has that name) and its samples have it.
 */
function toOpenMetrics(f: MetricFamily, _: number, all: MetricFamily[]): MetricFamily {
  if (f.type === "untyped") return { ...f, type: "unknown" };
  if (f.type !== "counter") return f;
  const bare = f.name.slice(0, -6);
  if (f.name.endsWith("_total") && all.some((other) => other.name === bare)) return f;
  const name = f.name.endsWith("_total") ? bare : f.name;
  const samples = f.samples.map((s) => s.name === name ? { ...s, name: `${name}_total` } : s);
  return { ...f, name, samples };
}

Deno.test("parse(serialize(x)) gives x back for arbitrary families (fast-check)", () => {
  for (const openMetrics of [false, true]) {
    fc.assert(
      fc.property(families(openMetrics), (list) => {
        const written = serializePrometheusText(list, { openMetrics });
        assertEquals(parsePrometheusText(written, { openMetrics }), list, written);
      }),
      { numRuns: 300 },
    );
  }
});
