import fc from "fast-check";
import { InputError } from "../errors.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
} from "../../tests/support/assert.ts";
import { haveCommand, skipNotice } from "../../tests/support/cores.ts";
import { goFloat, renderShimMetrics } from "../../tests/support/kata_metrics.ts";
import { promtoolCheck } from "../../tests/support/promtool.ts";
import type { Labels, MetricFamily, MetricType, Sample } from "./model.ts";
import {
  MAX_RECORDED_ERRORS,
  parsePrometheusText,
  type ParseStats,
  serializeHeader,
  serializePrometheusText,
  serializeSamples,
} from "./mod.ts";

const noPromtool = skipNotice("promtool (Debian package prometheus)", haveCommand("promtool"));

function sample(name: string, labels: Labels, value: number, timestamp?: number): Sample {
  return timestamp === undefined ? { name, labels, value } : { name, labels, value, timestamp };
}

function family(
  name: string,
  type: MetricType,
  samples: Sample[],
  help = "",
  unit?: string,
): MetricFamily {
  return unit === undefined ? { name, help, type, samples } : { name, help, type, unit, samples };
}

function parseError(text: string, openMetrics = false): string {
  try {
    parsePrometheusText(text, { openMetrics });
  } catch (error) {
    assert(error instanceof InputError, `expected an InputError, got ${String(error)}`);
    return error.message;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

function newStats(): ParseStats {
  return { samples: 0, skipped: 0, errors: [] };
}

Deno.test("parsePrometheusText() reads HELP, TYPE, comments, blank lines and labels", () => {
  const text = [
    "# A comment, ignored",
    "# HELP http_requests_total The total number of HTTP requests: \\\\ and \\n, \\t kept.",
    "# TYPE http_requests_total counter",
    "",
    '   http_requests_total{method="post",code="200"} 1027 1395066363000',
    'http_requests_total{ method = "post" , code="400", } 3 1395066363000',
    "",
    "# HELP odd_label Escapes in label values.",
    "# TYPE odd_label gauge",
    'odd_label{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\"",empty=""} 1',
    'rpc:latency:ratio{job="a:b"}\t0.5',
    "\ttabbed_metric 2",
    "",
  ].join("\n");
  assertEquals(parsePrometheusText(text), [
    family("http_requests_total", "counter", [
      sample("http_requests_total", { method: "post", code: "200" }, 1027, 1395066363000),
      sample("http_requests_total", { method: "post", code: "400" }, 3, 1395066363000),
    ], "The total number of HTTP requests: \\ and \n, \\t kept."),
    family("odd_label", "gauge", [
      sample("odd_label", {
        path: "C:\\DIR\\FILE.TXT",
        error: 'Cannot find file:\n"FILE.TXT"',
        empty: "",
      }, 1),
    ], "Escapes in label values."),
    family("rpc:latency:ratio", "untyped", [sample("rpc:latency:ratio", { job: "a:b" }, 0.5)]),
    family("tabbed_metric", "untyped", [sample("tabbed_metric", {}, 2)]),
  ]);
});

Deno.test("parsePrometheusText() reads values: NaN, infinities, exponents, signs", () => {
  const values = [
    ["NaN", NaN],
    ["nan", NaN],
    ["+Inf", Infinity],
    ["-Inf", -Infinity],
    ["Inf", Infinity],
    ["-infinity", -Infinity],
    ["1e3", 1000],
    ["1.5E-3", 0.0015],
    ["-2.5e+06", -2.5e6],
    [".5", 0.5],
    ["5.", 5],
    ["+7", 7],
    ["-0", -0],
    ["123456789012345678901234567890", 1.2345678901234568e29],
    ["1.8446744073709552e+19", 18446744073709552000],
  ] as const;
  const text = values.map(([value], index) => `m{i="${index}"} ${value}`).join("\n");
  const [only] = parsePrometheusText(text);
  assertEquals(only!.samples.map((s) => s.value), values.map(([, value]) => value));
  for (const bad of ["0x1F", "0x1p-2", "1_000", "Infinit", "1e", "--1", ".", "e5", "1.2.3"]) {
    assertEquals(parseError(`m ${bad}`), `Line 1: invalid value ${JSON.stringify(bad)}`);
  }
});

Deno.test("parsePrometheusText() reads every decimal form as Number() does (fast-check)", () => {
  const format = fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.nat(20)).map(
    ([value, digits]) =>
      [
        String(value),
        value.toExponential(),
        value.toExponential(digits),
        value.toPrecision(digits + 1),
        Math.abs(value) < 1e21 ? value.toFixed(digits) : String(value),
        goFloat(value),
      ] as const,
  );
  fc.assert(
    fc.property(format, (forms) => {
      const text = forms.map((form, i) => `m{f="${i}"} ${form}\n`).join("");
      const values = parsePrometheusText(text)[0]!.samples.map((s) => s.value);
      assertEquals(values, forms.map(Number), text);
    }),
    { numRuns: 2_000 },
  );
  const edges = ["0.1", "9007199254740993", "9007199254740992.5", "1e22", "1e23", "123456789e-22"];
  const parsed = parsePrometheusText(edges.map((e) => `m ${e}`).join("\n"))[0]!.samples;
  assertEquals(parsed.map((s) => s.value), edges.map(Number));
});

Deno.test("parsePrometheusText() groups histogram, summary and counter samples into families", () => {
  const text = `# HELP rpc_ms RPC latency.
# TYPE rpc_ms histogram
rpc_ms_bucket{le="1"} 2
rpc_ms_bucket{le="+Inf"} 3
rpc_ms_sum 4.5
rpc_ms_count 3
# TYPE gc_seconds summary
gc_seconds{quantile="0.5"} 0.001
gc_seconds_sum 0.01
gc_seconds_count 10
# TYPE rpc_ms_count gauge
rpc_ms_count 9
lonely_bucket 1
rpc_ms_sum 5
`;
  assertEquals(parsePrometheusText(text), [
    family("rpc_ms", "histogram", [
      sample("rpc_ms_bucket", { le: "1" }, 2),
      sample("rpc_ms_bucket", { le: "+Inf" }, 3),
      sample("rpc_ms_sum", {}, 4.5),
      sample("rpc_ms_count", {}, 3),
      sample("rpc_ms_sum", {}, 5),
    ], "RPC latency."),
    family("gc_seconds", "summary", [
      sample("gc_seconds", { quantile: "0.5" }, 0.001),
      sample("gc_seconds_sum", {}, 0.01),
      sample("gc_seconds_count", {}, 10),
    ]),
    family("rpc_ms_count", "gauge", [sample("rpc_ms_count", {}, 9)]),
    family("lonely_bucket", "untyped", [sample("lonely_bucket", {}, 1)]),
  ]);
});

Deno.test("parsePrometheusText() merges a family named twice, keeping the first HELP and TYPE", () => {
  const shim = (id: string, help: string, type: string) =>
    `# HELP kata_shim_fds ${help}\n# TYPE kata_shim_fds ${type}\nkata_shim_fds{sandbox_id="${id}"} 1\n` +
    `# HELP go_threads Threads.\n# TYPE go_threads gauge\ngo_threads{sandbox_id="${id}"} 2\n`;
  const text = shim("a", "Open FDs.", "gauge") + shim("b", "Other help.", "counter") +
    "kata_shim_fds 3\n";
  assertEquals(parsePrometheusText(text), [
    family("kata_shim_fds", "gauge", [
      sample("kata_shim_fds", { sandbox_id: "a" }, 1),
      sample("kata_shim_fds", { sandbox_id: "b" }, 1),
      sample("kata_shim_fds", {}, 3),
    ], "Open FDs."),
    family("go_threads", "gauge", [
      sample("go_threads", { sandbox_id: "a" }, 2),
      sample("go_threads", { sandbox_id: "b" }, 2),
    ], "Threads."),
  ]);
});

Deno.test("parsePrometheusText() merges shims that list their families in other orders (fast-check)", () => {
  const shims = families(false).chain((list) =>
    fc.tuple(fc.constant(list), fc.array(fc.shuffledSubarray(list), { minLength: 1, maxLength: 4 }))
  );
  fc.assert(
    fc.property(shims, ([, parts]) => {
      const merged = new Map<string, MetricFamily>();
      for (const part of parts) {
        for (const f of part) {
          const known = merged.get(f.name);
          if (known) known.samples.push(...f.samples);
          else merged.set(f.name, { ...f, samples: [...f.samples] });
        }
      }
      const text = parts.map((part) => serializePrometheusText(part)).join("");
      assertEquals(parsePrometheusText(text), [...merged.values()], text);
    }),
    { numRuns: 300 },
  );
  // Names that are prefixes of one another, in changing order.
  const a = "# TYPE a gauge\na 1\n# TYPE a_b gauge\na_b 2\n# TYPE a_b_c gauge\na_b_c 3\n";
  const b = "# TYPE a_b_c gauge\na_b_c 4\n# TYPE a gauge\na 5\n# TYPE a_b gauge\na_b 6\n";
  assertEquals(
    parsePrometheusText(a + b + a).map((f) => [f.name, f.samples.map((s) => s.value)]),
    [["a", [1, 5, 1]], ["a_b", [2, 6, 2]], ["a_b_c", [3, 4, 3]]],
  );
});

Deno.test("parsePrometheusText() reads OpenMetrics: units, _total, _created, info, exemplars, seconds", () => {
  const text =
    `# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# HELP go_goroutines Number of goroutines, with \\"quotes\\".
# TYPE go_goroutines counter
go_goroutines_total 69 1520879607.789
go_goroutines_created 1520870000
# TYPE foo histogram
foo_bucket{le="0.1"} 8 # {trace_id="KOO5S4vxi0o"} 0.067 1520879602.4
foo_bucket{le="+Inf"} 17 1520879607 # {} 1
foo_count 17
foo_sum 324789.3
# TYPE kv gaugehistogram
kv_bucket{le="+Inf"} 2
kv_gcount 2
kv_gsum 7
# TYPE build info
build_info{version="1.0"} 1
# TYPE feature stateset
feature{feature="a"} 1
undeclared 1 -1.5
# EOF
`;
  const families = parsePrometheusText(text, { openMetrics: true });
  assertEquals(families.map((f) => [f.name, f.type, f.unit, f.samples.length]), [
    ["acme_http_router_request_seconds", "summary", "seconds", 3],
    ["go_goroutines", "counter", undefined, 2],
    ["foo", "histogram", undefined, 4],
    ["kv", "gaugehistogram", undefined, 3],
    ["build", "info", undefined, 1],
    ["feature", "stateset", undefined, 1],
    ["undeclared", "unknown", undefined, 1],
  ]);
  assertEquals(
    families[1],
    family("go_goroutines", "counter", [
      sample("go_goroutines_total", {}, 69, 1520879607789),
      sample("go_goroutines_created", {}, 1520870000),
    ], 'Number of goroutines, with "quotes".'),
  );
  assertEquals(families[2]!.samples[1], sample("foo_bucket", { le: "+Inf" }, 17, 1520879607000));
  assertEquals(families[6]!.samples[0]!.timestamp, -1500);
});

Deno.test("parsePrometheusText() stops at # EOF; in OpenMetrics nothing may follow it", () => {
  assertEquals(parsePrometheusText("a 1\n# EOF\nb 2\n").map((f) => f.name), ["a"]);
  assertEquals(parsePrometheusText("a 1\n# EOF\n", { openMetrics: true }).map((f) => f.name), [
    "a",
  ]);
  assertEquals(parseError("a 1\n# EOF\n\nb 2\n", true), `Line 4: content after "# EOF"`);
  assertEquals(parseError("a 1\n", true), `Line 1: missing "# EOF"`);
  assertEquals(parseError('a 1 # {x="y"} 1\n'), `Line 1: unexpected "# {x=\\"y\\"} 1" after value`);
});

Deno.test("parsePrometheusText() rejects bad lines with the line number and the reason", () => {
  const cases: [string, string][] = [
    ["m abc", 'invalid value "abc"'],
    ["m", 'missing value for "m"'],
    ["m{} ", 'missing value for "m"'],
    ["1m 2", 'invalid metric name "1m"'],
    ["m-x 2", 'invalid metric name "m-x"'],
    ['{a="b"} 1', 'invalid metric name ""'],
    ['m{1a="b"} 1', 'invalid label name "1a"'],
    ['m{a="b",a="c"} 1', 'duplicate label "a"'],
    ['m{a="b" 1', 'expected "," or "}" after label "a"'],
    ["m{a} 1", 'expected "=" after label "a"'],
    ["m{a=b} 1", `expected '"' after "a="`],
    ['m{a="b} 1', 'unterminated value of label "a"'],
    ['m{a="b\\', 'unterminated value of label "a"'],
    ['m{a="\\x"} 1', 'invalid escape "\\\\x" in value of label "a"'],
    ["m{", "unterminated label set"],
    ["m 1 12.5", 'invalid timestamp "12.5"'],
    ["m 1 2 3", 'unexpected "3" after value'],
    ["# TYPE m flux", 'invalid type "flux"'],
    ["# TYPE m", "missing type"],
    ["# TYPE m gauge x", 'unexpected "x" after type'],
    ["# HELP 9m help", 'invalid metric name "9m" in HELP'],
    ["# TYPE", 'invalid metric name "" in TYPE'],
  ];
  for (const [line, reason] of cases) {
    assertEquals(parseError(`# HELP m x\nok 1\n${line}\nok 2\n`), `Line 3: ${reason}`, line);
  }
  assertEquals(
    parseError(`m ${"9".repeat(100)}x`),
    `Line 1: invalid value "${"9".repeat(40)}…"`,
  );
});

Deno.test("parsePrometheusText() in lenient mode skips bad lines, counts them, keeps the rest", () => {
  const stats = newStats();
  const text = "a 1\nb{x=1} 2\n# TYPE c flux\nc 3\nd four\n# TYPE e flux\n";
  assertEquals(parsePrometheusText(text, { lenient: true, stats }), [
    family("a", "untyped", [sample("a", {}, 1)]),
    family("c", "untyped", [sample("c", {}, 3)]),
  ]);
  assertEquals(stats, {
    samples: 2,
    skipped: 4,
    errors: [
      `Line 2: expected '"' after "x="`,
      'Line 3: invalid type "flux"',
      'Line 5: invalid value "four"',
      'Line 6: invalid type "flux"',
    ],
  });
  // One object sums many texts; it keeps only the first messages.
  parsePrometheusText("x\n".repeat(20) + "y 1\n", { lenient: true, stats });
  assertEquals([stats.samples, stats.skipped, stats.errors.length], [3, 24, MAX_RECORDED_ERRORS]);
  const om = newStats();
  parsePrometheusText("a 1\n", { openMetrics: true, lenient: true, stats: om });
  assertEquals(om, { samples: 1, skipped: 1, errors: [`Line 1: missing "# EOF"`] });
});

Deno.test("parsePrometheusText() does not let a bad line's labels leak into the next line", () => {
  // The parser reuses label names by position; a line failing half-way must not break that.
  const families = parsePrometheusText('m{a="1",b="2"} 1\nm{a="1",b="2",b} 2\nm{b="1",a="2"} 3\n', {
    lenient: true,
  });
  assertEquals(families[0]!.samples.map((s) => s.labels), [{ a: "1", b: "2" }, { b: "1", a: "2" }]);
  assertEquals(parseError('m{a="1",b="2"} 1\nm{b="2",b="3"} 2\n'), 'Line 2: duplicate label "b"');
  assertEquals(parseError('m{a="1",b="2"} 1\nm{a="1",a="3"} 2\n'), 'Line 2: duplicate label "a"');
  assertEquals(
    parseError('m{a="1",b="2",c="3"} 1\nm{c="1"} 2\nm{c="1",b="2",c="3"} 2\n'),
    'Line 3: duplicate label "c"',
  );
  const [proto] = parsePrometheusText('m{__proto__="x",constructor="y"} 1\n');
  assertEquals(Object.keys(proto!.samples[0]!.labels), ["__proto__", "constructor"]);
  assertEquals(Object.getPrototypeOf(proto!.samples[0]!.labels), Object.prototype);
});

Deno.test("parsePrometheusText() stops after maxSamples, lenient or not", () => {
  const text = "a 1\nb 2\nc 3\n";
  assertEquals(parsePrometheusText(text, { maxSamples: 3 }).length, 3);
  for (const lenient of [false, true]) {
    let error: unknown;
    try {
      parsePrometheusText(text, { maxSamples: 2, lenient });
    } catch (caught) {
      error = caught;
    }
    assert(error instanceof InputError);
    assertEquals(error.message, "Line 3: more than 2 samples");
  }
});

Deno.test("parsePrometheusText() stays linear on hostile input", () => {
  // Each would be quadratic with a search for "\\" or "\"" that runs past the line's end.
  const inputs = [
    "# HELP m x\n".repeat(200_000),
    'm{a="b' + "x".repeat(2_000_000) + "\n",
    'm{a="1"} 1\n'.repeat(200_000),
    `m{${Array.from({ length: 20_000 }, (_, i) => `l${i}="v"`).join(",")}} 1\n`.repeat(10),
    "{".repeat(1_000_000),
    'm{a="\\\\'.repeat(300_000),
  ];
  for (const input of inputs) {
    const started = performance.now();
    parsePrometheusText(input, { lenient: true });
    const ms = performance.now() - started;
    assert(ms < 2_000, `${ms.toFixed(0)} ms for ${input.length} characters`);
  }
});

Deno.test("parsePrometheusText() reads a realistic Kata shim payload", () => {
  const text = renderShimMetrics("sandbox-1", 7);
  const families = parsePrometheusText(text);
  const series = families.reduce((sum, f) => sum + f.samples.length, 0);
  assertEquals(series, 150);
  assertEquals(families.length, text.split("\n").filter((l) => l.startsWith("# TYPE")).length);
  const byName = new Map(families.map((f) => [f.name, f]));
  const rpc = byName.get("kata_shim_rpc_durations_histogram_milliseconds")!;
  assertEquals(rpc.type, "histogram");
  assertEquals(rpc.samples.length, 2 * 13);
  assertEquals(new Set(rpc.samples.map((s) => s.name)).size, 3);
  assertEquals(
    byName.get("kata_guest_cpu_time")!.samples[0]!.labels,
    { cpu: "0", item: "user" },
  );
  assertEquals(byName.get("process_virtual_memory_max_bytes")!.samples[0]!.value, 2 ** 64);
  // Every value reads back as the number it was written from.
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const written = line.slice(line.lastIndexOf(" ") + 1);
    assertEquals(goFloat(Number(written)), written);
  }
  // Counters never decrease as the tick grows.
  const later = parsePrometheusText(renderShimMetrics("sandbox-1", 8));
  for (const [index, f] of families.entries()) {
    if (f.type !== "counter") continue;
    f.samples.forEach((s, i) => assert(later[index]!.samples[i]!.value >= s.value, s.name));
  }
});

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

// Arbitrary valid families, named so that no family's samples can be taken for another's.

const TYPES_004: MetricType[] = ["counter", "gauge", "histogram", "summary", "untyped"];
const TYPES_OM: MetricType[] = [
  "counter",
  "gauge",
  "histogram",
  "gaugehistogram",
  "summary",
  "info",
  "stateset",
  "unknown",
];

function sampleSuffixes(type: MetricType, openMetrics: boolean): string[] {
  switch (type) {
    case "counter":
      return openMetrics ? ["_total", "_created"] : [""];
    case "histogram":
      return openMetrics
        ? ["_bucket", "_sum", "_count", "_created"]
        : ["_bucket", "_sum", "_count"];
    case "gaugehistogram":
      return ["_bucket", "_gcount", "_gsum"];
    case "summary":
      return openMetrics ? ["", "_sum", "_count", "_created"] : ["", "_sum", "_count"];
    case "info":
      return ["_info"];
    default:
      return [""];
  }
}

const text = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.array(fc.constantFrom("\\", '"', "\n", "\\n", "\r", "\t", " ", "#", "{", "}", "é", "😀"), {
    maxLength: 6,
  }).map((parts) => parts.join("")),
);
const labelName = fc.oneof(
  fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/),
  fc.constantFrom("le", "quantile", "__proto__", "constructor", "sandbox_id"),
);
const labels = fc.uniqueArray(fc.tuple(labelName, text), { selector: (t) => t[0], maxLength: 4 })
  .map((entries): Labels => Object.fromEntries(entries));

function families(openMetrics: boolean): fc.Arbitrary<MetricFamily[]> {
  const one = fc.record({
    base: fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,10}$/),
    type: fc.constantFrom(...(openMetrics ? TYPES_OM : TYPES_004)),
    help: text,
    unit: fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }),
    samples: fc.array(
      fc.record({
        suffix: fc.nat(),
        labels,
        value: fc.double(),
        timestamp: fc.option(fc.integer({ min: -1e12, max: 4e12 }), { nil: undefined }),
      }),
      { maxLength: 5 },
    ),
  });
  return fc.array(one, { maxLength: 6 }).map((list) =>
    list.map((f, index) => {
      let name = `f${index}_${f.base}`;
      if (openMetrics && f.type === "counter" && name.endsWith("_total")) name += "x";
      const suffixes = sampleSuffixes(f.type, openMetrics);
      return family(
        name,
        f.type,
        f.samples.map((s) =>
          sample(name + suffixes[s.suffix % suffixes.length], s.labels, s.value, s.timestamp)
        ),
        f.help,
        openMetrics ? f.unit : undefined,
      );
    })
  );
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

Deno.test("parsePrometheusText() never hangs nor throws anything but InputError (fast-check)", () => {
  const base = renderShimMetrics("fuzz", 1, { labels: { sandbox_id: "fuzz" } }).slice(0, 3000);
  const piece = fc.constantFrom(
    "{",
    "}",
    '"',
    "\\",
    "=",
    ",",
    "#",
    " ",
    "\n",
    "\r",
    "# EOF",
    "# TYPE ",
    "# HELP ",
    ' # {a="b"} 1',
    "NaN",
    "+Inf",
    "0x1",
    "1e",
    "_bucket",
    "é",
    "\uD800",
  );
  const mutation = fc.tuple(
    fc.nat(base.length),
    fc.nat(40),
    fc.array(fc.oneof(piece, text), {
      maxLength: 4,
    }),
  );
  const input = fc.oneof(
    fc.array(mutation, { minLength: 1, maxLength: 8 }).map((edits) => {
      let out = base;
      for (const [at, remove, insert] of edits) {
        out = out.slice(0, at) + insert.join("") + out.slice(at + remove);
      }
      return out;
    }),
    fc.array(fc.oneof(piece, text), { maxLength: 60 }).map((parts) => parts.join("")),
    fc.string({ unit: "binary", maxLength: 200 }),
  );
  fc.assert(
    fc.property(input, fc.boolean(), fc.boolean(), (source, openMetrics, lenient) => {
      const started = performance.now();
      try {
        const families = parsePrometheusText(source, { openMetrics, lenient, maxSamples: 1000 });
        // Whatever was read can be written and read again; after one such round (which may
        // rename a counter or split a family of a type 0.0.4 lacks) nothing changes any more.
        const again = parsePrometheusText(serializePrometheusText(families, { openMetrics }), {
          openMetrics,
        });
        assertEquals(
          parsePrometheusText(serializePrometheusText(again, { openMetrics }), { openMetrics }),
          again,
        );
      } catch (error) {
        assert(error instanceof InputError, `not an InputError: ${String(error)}`);
        assertMatch(error.message, /^Line \d+: /);
        assert(!lenient || error.message.includes("samples"), error.message);
      }
      assert(performance.now() - started < 1_000, "took over a second");
    }),
    { numRuns: 1_000 },
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
