import { assertEquals, assertThrows } from "../../tests/support/assert.ts";
import type { MetricFamily } from "../prom/mod.ts";
import { parseSeriesExpression, SeriesEvaluator } from "./series.ts";
import { SERIES_RULES } from "./rules.ts";

function family(name: string, samples: [Record<string, string>, number][]): MetricFamily {
  return {
    name,
    help: "",
    type: "counter",
    samples: samples.map(([labels, value]) => ({ name, labels, value })),
  };
}

Deno.test("parseSeriesExpression() reads selectors, rate, sum by and a scale", () => {
  const e = parseSeriesExpression(
    `sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{cpu="total", pod!~'kube-.*'})) * 3600`,
  );
  assertEquals(e.matchers, [
    { label: "__name__", op: "=", value: "container_cpu_usage_seconds_total" },
    { label: "cpu", op: "=", value: "total" },
    { label: "pod", op: "!~", value: "kube-.*" },
  ]);
  assertEquals([e.rate, e.sumBy, e.scale], [true, ["namespace", "pod"], 3600]);
  assertEquals(parseSeriesExpression("sum(node_load1)").sumBy, []);
  assertEquals(parseSeriesExpression('{__name__=~"a|b"}').matchers.length, 1);
  for (const rule of SERIES_RULES) parseSeriesExpression(rule.expression);
});

Deno.test("parseSeriesExpression() says what it expected, and where", () => {
  const cases: [string, string][] = [
    ["", "expected a metric name or {matchers} at column 1"],
    ["rate(x", 'expected ")" at column 7'],
    ['x{a=~"("}', 'bad regular expression "(" at column 9'],
    ["x{a=b}", "expected a quoted string at column 5"],
    ["x y", "unexpected text at column 3"],
    ["sum by (a) x", 'expected "(" at column 12'],
    ["x * many", "expected a number at column 5"],
  ];
  for (const [text, message] of cases) {
    assertThrows(() => parseSeriesExpression(text), SyntaxError, message);
  }
});

Deno.test("SeriesEvaluator rates counters, sums groups and forgets what went away", () => {
  const cpu = new SeriesEvaluator(
    parseSeriesExpression('sum by (pod) (rate(cpu_seconds_total{mode!="idle"}))'),
  );
  const at = (t: number, a: number, b: number, idle: number) =>
    cpu.evaluate([
      family("cpu_seconds_total", [
        [{ pod: "p", mode: "user", cpu: "0" }, a],
        [{ pod: "p", mode: "user", cpu: "1" }, b],
        [{ pod: "p", mode: "idle", cpu: "0" }, idle],
      ]),
      family("other_total", [[{ pod: "p" }, 1e9]]),
    ], t);
  assertEquals(at(0, 10, 20, 0), [], "a rate needs two evaluations");
  assertEquals(at(10, 15, 30, 1000), [{ labels: { pod: "p" }, value: 1.5 }]);
  // cpu 1 restarted from 0 (a counter reset): its increase is its value.
  assertEquals(at(20, 20, 5, 2000), [{ labels: { pod: "p" }, value: 1 }]);
  const gauges = new SeriesEvaluator(parseSeriesExpression('{__name__=~"load1|load5"} * 2'));
  assertEquals(
    gauges.evaluate([family("load1", [[{}, 0.5]]), family("load5", [[{}, 1]])], 0),
    [{ labels: { metric: "load1" }, value: 1 }, { labels: { metric: "load5" }, value: 2 }],
  );
});
