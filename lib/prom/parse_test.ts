import fc from "fast-check";
import { InputError } from "../errors.ts";
import { assert, assertEquals, assertMatch } from "../../tests/support/assert.ts";
import { goFloat, renderShimMetrics } from "../../tests/support/kata_metrics.ts";
import { families, family, sample, text } from "../../tests/support/prom_fixtures.ts";
import type { MetricFamily } from "./model.ts";
import {
  MAX_RECORDED_ERRORS,
  parsePrometheusText,
  type ParseStats,
  serializePrometheusText,
} from "./mod.ts";

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
    // Linear is well under a second for each; quadratic would be hours (10^12 steps), so a
    // bound a loaded machine never reaches still tells them apart.
    assert(ms < 60_000, `${ms.toFixed(0)} ms for ${input.length} characters`);
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
