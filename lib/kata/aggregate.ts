/**
 * The aggregated `/metrics` of every sandbox, as kata-monitor serves it: each shim's samples
 * get the labels `sandbox_id`, `cri_uid`, `cri_name`, `cri_namespace` (empty when the CRI
 * runtime has not told the pod yet) written first; shim families named `go_…` or
 * `process_…` are renamed `kata_shim_go_…`/`kata_shim_process_…`; families of the same name
 * are merged across sandboxes under one HELP and TYPE. Beside them, the cAdvisor-style
 * `container_*` series of each sandbox whose pod is known.
 *
 * Work follows the data, not the requests: a sandbox's text is parsed and its lines
 * rendered once per new scrape (or when its pod metadata arrives), the merged body once per
 * change of any sandbox, and its gzip once per body; a request without filters only
 * concatenates the agent's own metrics with the cached body.
 *
 * @module
 */
import { constants, crc32, deflateRawSync } from "node:zlib";
import { type CadvisorPod, deriveCadvisor } from "./cadvisor.ts";
import type { Labels, MetricFamily } from "../prom/mod.ts";
import {
  parsePrometheusText,
  type ParseStats,
  serializeHeader,
  serializeSamples,
} from "../prom/mod.ts";

/** A sandbox's pod, from the CRI runtime. */
export interface SandboxPod {
  uid: string;
  name: string;
  namespace: string;
}

/** One sandbox's current scrape, as the aggregator is given it. */
export interface SandboxScrape {
  id: string;
  /** The shim's text, or `undefined` when the last scrape failed (its samples are dropped). */
  text: string | undefined;
  /** When it was scraped (milliseconds since the epoch). */
  scrapedAt: number | undefined;
  pod: SandboxPod | undefined;
}

/** A family rendered for one sandbox: its header (under the name served) and its lines. */
interface RenderedFamily {
  name: string;
  header: string;
  family: MetricFamily;
  /** The labels written first in every sample (kata-monitor's four, or none). */
  labels: Labels;
  lines: string;
}

interface SandboxEntry {
  text: string;
  podKey: string;
  scrapedAt: number | undefined;
  rendered: RenderedFamily[];
  /** Skipped lines of the shim's text. */
  skipped: number;
}

/** Options of {@linkcode MetricsAggregator}. */
export interface AggregatorOptions {
  /** Most samples one shim may bring; more is treated as a failed scrape. Default 100,000. */
  maxSamplesPerShim?: number;
  /** Whether to derive the cAdvisor-style series. Default true. */
  cadvisor?: boolean;
}

/** Options of {@linkcode MetricsAggregator.render}. */
export interface RenderOptions {
  /** Keep only families whose (served) name starts with one of these (`filter_family`). */
  families?: readonly string[];
  openMetrics?: boolean;
}

/** kata-monitor's renaming: `go_…` and `process_…` shim families become `kata_shim_…`. */
export function servedName(name: string): string {
  return name.startsWith("go_") || name.startsWith("process_") ? `kata_shim_${name}` : name;
}

/** The labels kata-monitor adds to every sample of a sandbox. */
export function sandboxLabels(id: string, pod: SandboxPod | undefined): Labels {
  return {
    sandbox_id: id,
    cri_uid: pod?.uid ?? "",
    cri_name: pod?.name ?? "",
    cri_namespace: pod?.namespace ?? "",
  };
}

/** The merged metrics of every sandbox. */
export class MetricsAggregator {
  readonly #entries = new Map<string, SandboxEntry>();
  readonly #options: Required<AggregatorOptions>;
  #body: string | undefined;
  #bodyBytes: Uint8Array<ArrayBuffer> | undefined;
  #deflated: { raw: Uint8Array; crc: number; bytes: number } | undefined;
  /** Lines the shims sent that could not be parsed, since the start. */
  skippedLines = 0;

  /** Creates an empty aggregator. */
  constructor(options: AggregatorOptions = {}) {
    this.#options = {
      maxSamplesPerShim: options.maxSamplesPerShim ?? 100_000,
      cadvisor: options.cadvisor ?? true,
    };
  }

  /**
   * Brings the aggregate up to date with the sandboxes' current scrapes: new texts are
   * parsed and rendered, gone sandboxes dropped. Cheap when nothing changed.
   */
  update(scrapes: Iterable<SandboxScrape>): void {
    const seen = new Set<string>();
    let changed = false;
    for (const scrape of scrapes) {
      seen.add(scrape.id);
      const existing = this.#entries.get(scrape.id);
      if (scrape.text === undefined) {
        if (existing) {
          this.#entries.delete(scrape.id);
          changed = true;
        }
        continue;
      }
      const podKey = scrape.pod
        ? `${scrape.pod.uid}\0${scrape.pod.name}\0${scrape.pod.namespace}`
        : "";
      if (existing && existing.text === scrape.text && existing.podKey === podKey) continue;
      const entry = this.#render(scrape, podKey);
      if (entry) this.#entries.set(scrape.id, entry);
      else this.#entries.delete(scrape.id);
      changed = true;
    }
    for (const id of [...this.#entries.keys()]) {
      if (!seen.has(id)) {
        this.#entries.delete(id);
        changed = true;
      }
    }
    if (changed) {
      this.#body = undefined;
      this.#bodyBytes = undefined;
      this.#deflated = undefined;
    }
  }

  #render(scrape: SandboxScrape, podKey: string): SandboxEntry | undefined {
    const stats: ParseStats = { samples: 0, skipped: 0, errors: [] };
    let parsed: MetricFamily[];
    try {
      parsed = parsePrometheusText(scrape.text!, {
        lenient: true,
        maxSamples: this.#options.maxSamplesPerShim,
        stats,
      });
    } catch {
      return undefined;
    }
    this.skippedLines += stats.skipped;
    const labels = sandboxLabels(scrape.id, scrape.pod);
    const rendered: RenderedFamily[] = [];
    for (const family of parsed) {
      const name = servedName(family.name);
      try {
        rendered.push({
          name,
          family,
          labels,
          header: serializeHeader(family, { name }),
          lines: serializeSamples(family, labels, { name }),
        });
      } catch {
        // A name the format cannot carry: that family only is left out.
      }
    }
    if (this.#options.cadvisor && scrape.pod && scrape.pod.uid) {
      const pod: CadvisorPod = {
        namespace: scrape.pod.namespace,
        pod: scrape.pod.name,
        id: `/kubepods/pod${scrape.pod.uid}`,
        name: scrape.id,
      };
      try {
        for (
          const family of deriveCadvisor(parsed, pod, {
            // Current kata-agents export cpu_time in milliseconds (procfs user_ms()).
            cpuTimeUnit: "milliseconds",
            ...(scrape.scrapedAt !== undefined ? { now: scrape.scrapedAt } : {}),
          })
        ) {
          rendered.push({
            name: family.name,
            family,
            labels: {},
            header: serializeHeader(family),
            lines: serializeSamples(family),
          });
        }
      } catch {
        // Inconsistent guest metrics: no cAdvisor series for this sandbox this time.
      }
    }
    return {
      text: scrape.text!,
      podKey,
      scrapedAt: scrape.scrapedAt,
      rendered,
      skipped: stats.skipped,
    };
  }

  /** Sandboxes with samples in the aggregate. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The merged text format 0.0.4 body (cached until a sandbox changes), or, with options,
   * filtered by family prefix and/or in OpenMetrics (rendered on demand; without `# EOF`, so
   * that the caller can append the agent's own families and end it).
   */
  render(options: RenderOptions = {}): string {
    const filtered = options.families !== undefined && options.families.length > 0;
    if (!filtered && !options.openMetrics && this.#body !== undefined) return this.#body;
    const keep = (name: string) =>
      !filtered || options.families!.some((prefix) => name.startsWith(prefix));
    const groups = new Map<string, RenderedFamily[]>();
    const ids = [...this.#entries.keys()].sort();
    for (const id of ids) {
      for (const family of this.#entries.get(id)!.rendered) {
        if (!keep(family.name)) continue;
        const group = groups.get(family.name);
        if (group) group.push(family);
        else groups.set(family.name, [family]);
      }
    }
    let out = "";
    for (const name of [...groups.keys()].sort()) {
      const group = groups.get(name)!;
      if (options.openMetrics) {
        out += serializeHeader(group[0]!.family, { name, openMetrics: true });
        for (const f of group) {
          out += serializeSamples(f.family, f.labels, { name, openMetrics: true });
        }
        continue;
      }
      out += group[0]!.header;
      for (const family of group) out += family.lines;
    }
    if (!filtered && !options.openMetrics) this.#body = out;
    return out;
  }

  /**
   * {@linkcode render}'s unfiltered body as UTF-8 bytes, encoded once per change: handing
   * the server a multi-megabyte string would make it flatten and encode it per request.
   */
  bytes(): Uint8Array<ArrayBuffer> {
    this.#bodyBytes ??= encoder.encode(this.render());
    return this.#bodyBytes;
  }

  /**
   * One gzip member holding {@linkcode render}'s unfiltered body followed by `tail` (the
   * agent's own metrics, different on every request). The body is deflated once, ending on
   * a full flush, and cached with its CRC; a request deflates only `tail` as the final block
   * and extends the CRC over it, so a 1,000-sandbox body is not compressed again per scrape.
   */
  gzipWith(tail: string): Uint8Array<ArrayBuffer> {
    if (this.#deflated === undefined) {
      const body = this.bytes();
      this.#deflated = {
        raw: deflateRawSync(body, { level: 1, finishFlush: constants.Z_FULL_FLUSH }),
        crc: crc32(body),
        bytes: body.length,
      };
    }
    const cached = this.#deflated;
    const end = encoder.encode(tail);
    const last = deflateRawSync(end, { level: 1 });
    const out = new Uint8Array(10 + cached.raw.length + last.length + 8);
    out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    out.set(cached.raw, 10);
    out.set(last, 10 + cached.raw.length);
    const trailer = new DataView(out.buffer, 10 + cached.raw.length + last.length);
    trailer.setUint32(0, crc32(end, cached.crc) >>> 0, true);
    trailer.setUint32(4, (cached.bytes + end.length) >>> 0, true);
    return out;
  }
}

const encoder = new TextEncoder();
