/**
 * Exposition-format fixtures for tests: builders of samples and families, and fast-check
 * arbitraries of valid families (named so that no family's samples can be taken for
 * another's), shared by the parser, serializer and round-trip tests.
 *
 * @module
 */
import fc from "fast-check";
import type { Labels, MetricFamily, MetricType, Sample } from "../../lib/prom/mod.ts";

/** One sample. */
export function sample(name: string, labels: Labels, value: number, timestamp?: number): Sample {
  return timestamp === undefined ? { name, labels, value } : { name, labels, value, timestamp };
}

/** One family. */
export function family(
  name: string,
  type: MetricType,
  samples: Sample[],
  help = "",
  unit?: string,
): MetricFamily {
  return unit === undefined ? { name, help, type, samples } : { name, help, type, unit, samples };
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

/** Arbitrary texts with the characters the formats escape. */
export const text = fc.oneof(
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

/** Arbitrary valid families of the 0.0.4 or OpenMetrics text format. */
export function families(openMetrics: boolean): fc.Arbitrary<MetricFamily[]> {
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
