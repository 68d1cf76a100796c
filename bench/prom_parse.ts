/**
 * Parse throughput of `parsePrometheusText` against the npm package
 * `parse-prometheus-text-format` on the same text: many shims' realistic metrics
 * (`renderShimMetrics`, about 150 series each, a distinct `sandbox_id` label per shim)
 * concatenated to about 10 MB, HELP and TYPE lines repeated for every shim; and the same
 * shims' texts parsed one at a time, as the daemon does. Three warm-up runs each, then several
 * rounds in which each parser runs once, the order alternating; medians in
 * MB/s (MB = 10^6 bytes of UTF-8 input). Also times the serializers on the parsed families.
 *
 * Run: deno task bench:prom [--mb 10] [--rounds 11]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import parsePeer from "parse-prometheus-text-format";
import {
  parsePrometheusText,
  type ParseStats,
  serializePrometheusText,
  serializeSamples,
} from "../lib/prom/mod.ts";
import { renderShimMetrics } from "../tests/support/kata_metrics.ts";

function flag(name: string, fallback: number): number {
  const index = Deno.args.indexOf(`--${name}`);
  const value = index === -1 ? fallback : Number(Deno.args[index + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`Invalid --${name}`);
  return value;
}

const targetBytes = flag("mb", 10) * 1e6;
const rounds = flag("rounds", 11);

const parts: string[] = [];
let size = 0;
for (let shim = 0; size < targetBytes; shim++) {
  const id = `${(0x4f0c0b6a + shim * 7919).toString(16)}-${shim}`;
  const part = renderShimMetrics(id, shim % 60, { labels: { sandbox_id: id } });
  parts.push(part);
  size += part.length;
}
const text = parts.join("");
const bytes = new TextEncoder().encode(text).length;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function time(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return (performance.now() - started) / 1000;
}

const ours = () => parsePrometheusText(text);
const oursLenient = () =>
  parsePrometheusText(text, {
    lenient: true,
    stats: { samples: 0, skipped: 0, errors: [] } satisfies ParseStats,
  });
const peer = () => parsePeer(text);
// What the daemon does: one shim's text at a time.
const oursPerShim = () => parts.map((part) => parsePrometheusText(part, { lenient: true }));
const peerPerShim = () => parts.map((part) => parsePeer(part));

const ourFamilies = ours();
const ourSamples = ourFamilies.reduce((sum, family) => sum + family.samples.length, 0);
const peerFamilies = peer() as { metrics: unknown[] }[];
const peerMetrics = peerFamilies.reduce((sum, family) => sum + family.metrics.length, 0);

// Warm-up: a few runs each, so that every parser is measured optimized.
const order: [string, () => unknown][] = [
  ["ours", ours],
  ["lenient", oursLenient],
  ["peer", peer],
  ["oursPerShim", oursPerShim],
  ["peerPerShim", peerPerShim],
];
for (let i = 0; i < 3; i++) for (const [, fn] of order) fn();

const runs: Record<string, number[]> = Object.fromEntries(order.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  const turn = round % 2 ? [...order].reverse() : order;
  for (const [name, fn] of turn) runs[name]!.push(bytes / 1e6 / time(fn));
}

// The serializers: a whole text as one response body (encoded, as a response would be), and
// every family's samples with kata-monitor's four labels, as the aggregator renders a scrape.
const serializeRuns: number[] = [];
const samplesRuns: number[] = [];
const encoder = new TextEncoder();
let written = 0;
for (let round = 0; round < rounds; round++) {
  serializeRuns.push(
    time(() => (written = encoder.encode(serializePrometheusText(ourFamilies)).length)),
  );
  samplesRuns.push(
    time(() =>
      ourFamilies.map((family) =>
        serializeSamples(family, {
          sandbox_id: "4f0c0b6a",
          cri_uid: "",
          cri_name: "",
          cri_namespace: "",
        })
      ).join("")
    ),
  );
}

const mbps = (name: string) => median(runs[name]!);
const ratio = mbps("ours") / mbps("peer");
console.log(
  `input: ${parts.length} shims, ${(bytes / 1e6).toFixed(1)} MB, ${ourSamples} samples in ` +
    `${ourFamilies.length} families (peer: ${peerMetrics} metrics in ${peerFamilies.length} ` +
    `families); ${rounds} rounds, medians; Deno ${Deno.version.deno}, V8 ${Deno.version.v8}`,
);
console.log("");
console.log("| parser                                   | MB/s (median) | min … max |");
console.log("| ---------------------------------------- | ------------: | --------- |");
for (
  const [name, label] of [
    ["ours", "parsePrometheusText"],
    ["lenient", "parsePrometheusText, lenient"],
    ["peer", "parse-prometheus-text-format 1.1.1"],
    ["oursPerShim", "parsePrometheusText, lenient, per shim"],
    ["peerPerShim", "parse-prometheus-text-format, per shim"],
  ]
) {
  const values = runs[name!]!;
  console.log(
    `| ${label!.padEnd(40)} | ${mbps(name!).toFixed(0).padStart(13)} | ${
      Math.min(...values).toFixed(0)
    } … ${Math.max(...values).toFixed(0)} |`,
  );
}
console.log("");
console.log(
  `ours/peer: ${ratio.toFixed(1)}× (target ≥ 5×: ${ratio >= 5 ? "met" : "NOT met"}); ` +
    `ours ≥ 100 MB/s: ${mbps("ours") >= 100 ? "met" : "NOT met"}; per shim: ${
      (mbps("oursPerShim") / mbps("peerPerShim")).toFixed(1)
    }×`,
);
console.log(
  `serializePrometheusText + TextEncoder.encode of the parsed families: ${
    (median(serializeRuns) * 1000).toFixed(0)
  } ms for ${(written / 1e6).toFixed(1)} MB (${
    (written / 1e6 / median(serializeRuns)).toFixed(0)
  } MB/s); serializeSamples of every family with 4 extra labels, joined: ${
    (median(samplesRuns) * 1000).toFixed(0)
  } ms`,
);
