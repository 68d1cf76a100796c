/**
 * The aggregated `/metrics` of every sandbox, as kata-monitor serves it: each shim's samples
 * get the labels `sandbox_id`, `cri_uid`, `cri_name`, `cri_namespace` (empty when the CRI
 * runtime has not told the pod yet) written first; shim families named `go_…` or
 * `process_…` are renamed `kata_shim_go_…`/`kata_shim_process_…`; families of the same name
 * are merged across sandboxes under one HELP and TYPE. Beside them, the cAdvisor-style
 * `container_*` series of each sandbox whose pod is known.
 *
 * Work follows the data, not the requests: a sandbox's text is parsed and its lines
 * rendered once per new scrape (or when its pod metadata arrives), the merged body (and the
 * last few filtered or OpenMetrics renderings) once per change of any sandbox, encoded and
 * gzipped once per rendering; a request only adds the agent's own metrics to shared bytes.
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
  /** A cAdvisor-style family derived from the guest's metrics (`container_*`). */
  derived?: boolean;
}

interface SandboxEntry {
  text: string;
  podKey: string;
  scrapedAt: number | undefined;
  rendered: RenderedFamily[];
  /** Skipped lines of the shim's text. */
  skipped: number;
  usage: SandboxUsage;
}

/** What a sandbox uses, from its guest's metrics, as the cAdvisor-style series count it. */
export interface SandboxUsage {
  /** CPU time used since the guest started (`container_cpu_usage_seconds_total`). */
  cpuSeconds?: number;
  /** CPUs used on average between the last two scrapes (needs two scrapes). */
  cpuCores?: number;
  /** Working set (`container_memory_working_set_bytes`). */
  memoryBytes?: number;
  /** The guest's memory (`container_spec_memory_limit_bytes`). */
  memoryLimitBytes?: number;
}

/** The value of the one sample of `name` among `families`. */
function valueOf(families: readonly MetricFamily[], name: string): number | undefined {
  return families.find((f) => f.name === name)?.samples[0]?.value;
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
  /**
   * Whether to include the derived cAdvisor-style families; default true. The daemon leaves
   * them out and merges {@linkcode MetricsAggregator.cadvisorFamilies} with the host's
   * containers' families of the same names instead.
   */
  cadvisor?: boolean;
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
  /** Renderings as bytes, by options, for the current state. */
  readonly #bodies = new Map<string, SharedBody>();
  /** The derived families merged across sandboxes, for the current state. */
  #cadvisor: MetricFamily[] | undefined;
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
      const entry = this.#render(scrape, podKey, existing);
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
      this.#bodies.clear();
      this.#cadvisor = undefined;
    }
  }

  /**
   * The derived cAdvisor-style families of every sandbox, one per name (samples of sandboxes
   * in id order), computed once per change of the aggregate.
   */
  cadvisorFamilies(): MetricFamily[] {
    if (this.#cadvisor) return this.#cadvisor;
    const byName = new Map<string, MetricFamily>();
    for (const id of [...this.#entries.keys()].sort()) {
      for (const rendered of this.#entries.get(id)!.rendered) {
        if (!rendered.derived) continue;
        const family = byName.get(rendered.name);
        if (family) family.samples.push(...rendered.family.samples);
        else {byName.set(rendered.name, {
            ...rendered.family,
            samples: [...rendered.family.samples],
          });}
      }
    }
    this.#cadvisor = [...byName.values()];
    return this.#cadvisor;
  }

  #render(
    scrape: SandboxScrape,
    podKey: string,
    previous: SandboxEntry | undefined,
  ): SandboxEntry | undefined {
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
    // The cAdvisor-style series are served for sandboxes whose pod is known; what they
    // count is kept for every sandbox (the pages show it).
    const pod: CadvisorPod = scrape.pod && scrape.pod.uid
      ? {
        namespace: scrape.pod.namespace,
        pod: scrape.pod.name,
        id: `/kubepods/pod${scrape.pod.uid}`,
        name: scrape.id,
      }
      : { namespace: "", pod: "", id: "", name: scrape.id };
    let derived: MetricFamily[] = [];
    try {
      derived = deriveCadvisor(parsed, pod, {
        // Current kata-agents export cpu_time in milliseconds (procfs user_ms()).
        cpuTimeUnit: "milliseconds",
        ...(scrape.scrapedAt !== undefined ? { now: scrape.scrapedAt } : {}),
      });
    } catch {
      // Inconsistent guest metrics: no cAdvisor series for this sandbox this time.
    }
    if (this.#options.cadvisor && pod.id) {
      for (const family of derived) {
        rendered.push({
          name: family.name,
          family,
          labels: {},
          header: serializeHeader(family),
          lines: serializeSamples(family),
          derived: true,
        });
      }
    }
    const usage: SandboxUsage = {
      cpuSeconds: valueOf(derived, "container_cpu_usage_seconds_total"),
      memoryBytes: valueOf(derived, "container_memory_working_set_bytes"),
      memoryLimitBytes: valueOf(derived, "container_spec_memory_limit_bytes"),
    };
    const before = previous?.usage.cpuSeconds;
    const elapsed = (scrape.scrapedAt ?? 0) - (previous?.scrapedAt ?? 0);
    if (before !== undefined && usage.cpuSeconds !== undefined && elapsed > 0) {
      const used = usage.cpuSeconds - before;
      // A restarted guest counts from 0 again: no rate across it.
      if (used >= 0) usage.cpuCores = used / (elapsed / 1000);
    }
    return {
      text: scrape.text!,
      podKey,
      scrapedAt: scrape.scrapedAt,
      rendered,
      skipped: stats.skipped,
      usage,
    };
  }

  /** What sandbox `id` uses, from its last scrape; undefined when it has none. */
  usage(id: string): SandboxUsage | undefined {
    return this.#entries.get(id)?.usage;
  }

  /** Sandboxes with samples in the aggregate. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The merged text format 0.0.4 body, or, with options, filtered by family prefix and/or in
   * OpenMetrics (without `# EOF`, so that the caller can append the agent's own families and
   * end it). Rendered on each call: {@linkcode body} is the cached form.
   */
  render(options: RenderOptions = {}): string {
    const filtered = options.families !== undefined && options.families.length > 0;
    const keep = (name: string) =>
      !filtered || options.families!.some((prefix) => name.startsWith(prefix));
    const cadvisor = options.cadvisor ?? true;
    const groups = new Map<string, RenderedFamily[]>();
    const ids = [...this.#entries.keys()].sort();
    for (const id of ids) {
      for (const family of this.#entries.get(id)!.rendered) {
        if (!keep(family.name) || (family.derived && !cadvisor)) continue;
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
    return out;
  }

  /**
   * {@linkcode render}'s output as a {@linkcode SharedBody}, rendered, encoded and (on first
   * use) deflated once per change of the aggregate, whatever the number of requests asking
   * for it: handing the server a multi-megabyte string, or a fresh copy, per request is what
   * made memory grow under load. The unfiltered body is always kept; other renderings (a
   * `filter_family`, OpenMetrics) the last few asked for.
   */
  body(options: RenderOptions = {}): SharedBody {
    const key = `${options.openMetrics ? "om" : "text"}|${options.cadvisor ?? true}|${
      (options.families ?? []).join(",")
    }`;
    const cached = this.#bodies.get(key);
    if (cached) return cached;
    const body = new SharedBody(encoder.encode(this.render(options)));
    if (this.#bodies.size >= MAX_CACHED_BODIES) {
      // The unfiltered body stays: every Prometheus asks for it.
      const evict = [...this.#bodies.keys()].find((k) => !/^text\|(true|false)\|$/.test(k));
      if (evict !== undefined) this.#bodies.delete(evict);
    }
    this.#bodies.set(key, body);
    return body;
  }
}

/** Renderings kept per state of the aggregate, the unfiltered one among them. */
const MAX_CACHED_BODIES = 4;

/**
 * A body shared by every answer until the aggregate changes: its UTF-8 bytes and, once asked
 * for, its gzip member without an end. Answers are handed these very arrays, never copies.
 */
export class SharedBody {
  #deflated: { head: Uint8Array<ArrayBuffer>; crc: number } | undefined;
  #last: { tail: Uint8Array; parts: Uint8Array<ArrayBuffer>[] } | undefined;

  /** Wraps the bytes of a rendering. */
  constructor(readonly bytes: Uint8Array<ArrayBuffer>) {}

  /**
   * The pieces of one gzip member holding the body followed by `tail` (the agent's own
   * metrics, different on every request). The body is deflated once, ending on a full flush,
   * and kept with the gzip header and its CRC; a request deflates only `tail` as the final
   * block and extends the CRC over it, so that a 1,000-sandbox body is neither compressed
   * nor copied again per scrape.
   */
  gzipWith(tail: Uint8Array): Uint8Array<ArrayBuffer>[] {
    // Requests sharing one rendering of the tail share its pieces too.
    if (this.#last?.tail === tail) return this.#last.parts;
    if (this.#deflated === undefined) {
      const raw = deflateRawSync(this.bytes, { level: 1, finishFlush: constants.Z_FULL_FLUSH });
      const head = new Uint8Array(10 + raw.length);
      head.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
      head.set(raw, 10);
      this.#deflated = { head, crc: crc32(this.bytes) };
    }
    const last = new Uint8Array(deflateRawSync(tail, { level: 1 }));
    const trailer = new Uint8Array(8);
    const view = new DataView(trailer.buffer);
    view.setUint32(0, crc32(tail, this.#deflated.crc) >>> 0, true);
    view.setUint32(4, (this.bytes.length + tail.length) >>> 0, true);
    const parts = [this.#deflated.head, last, trailer];
    this.#last = { tail, parts };
    return parts;
  }
}

const encoder = new TextEncoder();
