/**
 * The Prometheus text exposition formats, read and written over the model of `model.ts` (parsing in `_parse.ts`, writing in `_format.ts`): the
 * text format 0.0.4 (what the Kata shims and kata-monitor serve) and OpenMetrics 1.0 text.
 *
 * The parser is the hot path of the daemon's `/metrics`, linear in its input whatever it holds;
 * the serializer renders each sandbox's sample lines once per scrape
 * ({@linkcode serializeSamples}) under one {@linkcode serializeHeader} per family.
 *
 * @example Aggregating shims the kata-monitor way
 * ```ts
 * const lines = new Map<string, string[]>(); // family name -> one rendered part per shim
 * const first = new Map<string, MetricFamily>();
 * for (const shim of shims) {
 *   for (const family of parsePrometheusText(shim.text, { lenient: true })) {
 *     if (!first.has(family.name)) first.set(family.name, family);
 *     const parts = lines.get(family.name) ?? lines.set(family.name, []).get(family.name)!;
 *     parts.push(serializeSamples(family, { sandbox_id: shim.id, cri_uid: shim.uid }));
 *   }
 * }
 * let body = "";
 * for (const [name, parts] of lines) body += serializeHeader(first.get(name)!) + parts.join("");
 * ```
 *
 * @module
 */
export type { Labels, MetricFamily, MetricType, Sample } from "./model.ts";
export {
  MAX_RECORDED_ERRORS,
  type ParseOptions,
  parsePrometheusText,
  type ParseStats,
} from "./_parse.ts";
export { mergeFamilies } from "./merge.ts";
export {
  type FamilyOptions,
  serializeHeader,
  type SerializeOptions,
  serializePrometheusText,
  serializeSamples,
} from "./_format.ts";
export { SharedBody } from "./shared_body.ts";
