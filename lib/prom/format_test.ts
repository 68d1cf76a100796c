import fc from "fast-check";
import { assert, assertEquals, assertStringIncludes } from "../../tests/support/assert.ts";
import { haveCommand, skipNotice } from "../../tests/support/cores.ts";
import { renderShimMetrics } from "../../tests/support/kata_metrics.ts";
import { promtoolCheck } from "../../tests/support/promtool.ts";
import { families, family, sample } from "../../tests/support/prom_fixtures.ts";
import type { MetricFamily } from "./model.ts";
import {
  parsePrometheusText,
  serializeHeader,
  serializePrometheusText,
  serializeSamples,
} from "./mod.ts";

const noPromtool = skipNotice("promtool (Debian package prometheus)", haveCommand("promtool"));

Deno.test("serializePrometheusText() writes 0.0.4 text with escapes and special values", () => {
  const text = serializePrometheusText([
    family("m_bytes", "gauge", [
      sample("m_bytes", { path: 'C:\\x\n"y"', b: "é ✓ 😀" }, 1234567),
      sample("m_bytes", {}, NaN),
      sample("m_bytes", {}, Infinity),
      sample("m_bytes", {}, -Infinity),
      sample("m_bytes", {}, -0),
      sample("m_bytes", {}, 1e21),
      sample("m_bytes", {}, 2 ** 70),
      sample("m_bytes", {}, 0.1),
      sample("m_bytes", {}, 1e-7, 1700000000123),
    ], 'Help with \\ and\nnewline and "quotes".'),
    family("empty", "untyped", []),
    family("kv", "gaugehistogram", [sample("kv_gcount", {}, 1)]),
  ]);
  assertEquals(
    text,
    `# HELP m_bytes Help with \\\\ and\\nnewline and "quotes".
# TYPE m_bytes gauge
m_bytes{path="C:\\\\x\\n\\"y\\"",b="é ✓ 😀"} 1234567
m_bytes NaN
m_bytes +Inf
m_bytes -Inf
m_bytes -0
m_bytes 1000000000000000000000
m_bytes 1180591620717411303424
m_bytes 0.1
m_bytes 1e-7 1700000000123
# TYPE empty untyped
# TYPE kv untyped
kv_gcount 1
`,
  );
});

Deno.test("serializePrometheusText() writes one HELP and TYPE per family name", () => {
  const a = family("x", "gauge", [sample("x", { s: "a" }, 1)], "First.");
  const b = family("x", "counter", [sample("x", { s: "b" }, 2)], "Second.");
  const c = family("y", "gauge", [sample("y", {}, 3)]);
  assertEquals(
    serializePrometheusText([a, c, b]),
    '# HELP x First.\n# TYPE x gauge\nx{s="a"} 1\nx{s="b"} 2\n# TYPE y gauge\ny 3\n',
  );
});

Deno.test("serializePrometheusText() writes OpenMetrics with _total counters, units and # EOF", () => {
  const families = [
    family("requests_total", "counter", [sample("requests_total", { code: "200" }, 5, 1500)]),
    family("jobs", "counter", [sample("jobs", {}, 1), sample("jobs_created", {}, 1.7e9)], 'A "q".'),
    family("size_bytes", "gauge", [sample("size_bytes", {}, 3)], "", "bytes"),
    family("old", "untyped", [sample("old", {}, 1, 1700000000123)]),
  ];
  const text = serializePrometheusText(families, { openMetrics: true });
  assertEquals(
    text,
    `# TYPE requests counter
requests_total{code="200"} 5 1.5
# HELP jobs A \\"q\\".
# TYPE jobs counter
jobs_total 1
jobs_created 1700000000
# TYPE size_bytes gauge
# UNIT size_bytes bytes
size_bytes 3
# TYPE old unknown
old 1 1700000000.123
# EOF
`,
  );
  // A counter whose name without `_total` is another family's keeps it.
  const go = [
    family("go_memstats_alloc_bytes", "gauge", [sample("go_memstats_alloc_bytes", {}, 1)]),
    family("go_memstats_alloc_bytes_total", "counter", [
      sample("go_memstats_alloc_bytes_total", {}, 2),
    ]),
  ];
  const goText = serializePrometheusText(go, { openMetrics: true });
  assertStringIncludes(goText, "# TYPE go_memstats_alloc_bytes_total counter\n");
  assertEquals(parsePrometheusText(goText, { openMetrics: true }), go);
  // Back in 0.0.4, the counter's family takes its samples' `_total` name.
  const reparsed = parsePrometheusText(text, { openMetrics: true });
  assertEquals(
    serializePrometheusText(reparsed.slice(0, 1)),
    '# TYPE requests_total counter\nrequests_total{code="200"} 5 1500\n',
  );
});

Deno.test("serializeSamples() prepends extra labels and can rename the family", () => {
  const rpc = family("rpc_ms", "histogram", [
    sample("rpc_ms_bucket", { action: "create", le: "+Inf", sandbox_id: "shim's own" }, 3),
    sample("rpc_ms_sum", { action: "create" }, 4.5),
    sample("rpc_ms_count", { action: "create" }, 3),
  ], "RPC latency.");
  const extra = { sandbox_id: "4f0c", cri_uid: "", cri_name: 'pod "a"', cri_namespace: "ns" };
  const prefix = 'sandbox_id="4f0c",cri_uid="",cri_name="pod \\"a\\"",cri_namespace="ns"';
  assertEquals(
    serializeSamples(rpc, extra),
    `rpc_ms_bucket{${prefix},action="create",le="+Inf"} 3\n` +
      `rpc_ms_sum{${prefix},action="create"} 4.5\n` +
      `rpc_ms_count{${prefix},action="create"} 3\n`,
  );
  assertEquals(
    serializeSamples(family("go_threads", "gauge", [sample("go_threads", {}, 9)]), extra, {
      name: "kata_shim_go_threads",
    }),
    `kata_shim_go_threads{${prefix}} 9\n`,
  );
  assertEquals(
    serializeHeader(rpc, { name: "kata_rpc_ms" }),
    "# HELP kata_rpc_ms RPC latency.\n# TYPE kata_rpc_ms histogram\n",
  );
  assertEquals(serializeSamples(family("x", "gauge", []), extra), "");
  // Pre-rendered parts concatenated under one header are a valid text.
  const parts = ["a", "b"].map((id) => serializeSamples(rpc, { sandbox_id: id }));
  const text = serializeHeader(rpc) + parts.join("");
  assertEquals(parsePrometheusText(text)[0]!.samples.length, 6);
});

Deno.test("serializers reject names the formats cannot carry", () => {
  const throwsType = (fn: () => unknown, part: string) => {
    try {
      fn();
    } catch (error) {
      assert(error instanceof TypeError);
      assertEquals(error.message, part);
      return;
    }
    throw new Error("expected a TypeError");
  };
  throwsType(
    () => serializePrometheusText([family("bad-name", "gauge", [])]),
    'Invalid metric name "bad-name"',
  );
  throwsType(
    () => serializeSamples(family("m", "gauge", [sample("m", { "a-b": "1" }, 1)])),
    'Invalid label name "a-b"',
  );
  throwsType(
    () => serializeSamples(family("m", "gauge", [sample("m", {}, 1)]), { "x:y": "1" }),
    'Invalid label name "x:y"',
  );
});

Deno.test({
  name: "serializePrometheusText() output passes promtool check metrics",
  ignore: noPromtool,
  fn: async () => {
    // kata-monitor's shape: shims merged, their labels prepended, go_*/process_* renamed.
    const shims = ["4f0c0b6a", "9d1e77c2"].map((id, tick) => ({
      id,
      families: parsePrometheusText(renderShimMetrics(id, tick)),
    }));
    const first = new Map<string, MetricFamily>();
    const parts = new Map<string, string[]>();
    for (const shim of shims) {
      for (const f of shim.families) {
        const name = /^(go|process)_/.test(f.name) ? `kata_shim_${f.name}` : f.name;
        if (!first.has(name)) first.set(name, f);
        const extra = { sandbox_id: shim.id, cri_uid: "", cri_name: 'p"\\\n', cri_namespace: "é" };
        const list = parts.get(name) ?? parts.set(name, []).get(name)!;
        list.push(serializeSamples(f, extra, { name }));
      }
    }
    let text = "";
    for (const [name, list] of parts) {
      text += serializeHeader(first.get(name)!, { name }) + list.join("");
    }
    const checked = await promtoolCheck(text);
    // Lint findings are accepted on the names Kata chose, and only there.
    assertEquals(checked.defects, []);
    assert(checked.code === 0 || checked.code === 3, `promtool exit code ${checked.code}`);
    assertEquals(parsePrometheusText(text).length, first.size);

    // Arbitrary label values and help: no parse error (lint findings are expected here).
    const arbitrary = fc.sample(families(false), { numRuns: 60, seed: 42 }).flat()
      .map((f, i) => ({
        ...f,
        name: `m${i}`,
        type: f.type === "histogram" || f.type === "summary" ? "gauge" as const : f.type,
        samples: f.samples.map((s) => ({
          ...s,
          name: `m${i}`,
          labels: Object.fromEntries(
            Object.entries(s.labels).filter(([k]) => !k.startsWith("__") && k !== "le"),
          ),
        })),
      }));
    const fuzzed = await promtoolCheck(serializePrometheusText(arbitrary));
    assert(fuzzed.code === 0 || fuzzed.code === 3, fuzzed.defects.join("\n"));
    assertEquals(fuzzed.defects.filter((line) => /error/i.test(line)), []);
  },
});
