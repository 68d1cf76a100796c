/**
 * The aggregated `/metrics` of every sandbox, as kata-monitor serves it: each shim's samples
 * get the labels `sandbox_id`, `cri_uid`, `cri_name`, `cri_namespace` (empty when the CRI
 * runtime has not told the pod yet) written first; shim families named `go_...` or
 * `process_...` are renamed `kata_shim_go_...`/`kata_shim_process_...`; families of the same name
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
import type { MetricFamily } from "../prom/mod.ts";
import { parsePrometheusText, serializeHeader, serializeSamples, SharedBody } from "../prom/mod.ts";
import {
  podKeyOf,
  renderSandbox,
  type SandboxEntry,
  type SandboxScrape,
  type SandboxUsage,
  type Segment,
  servedName,
} from "./_render.ts";

export {
  releaseEntry,
  type SandboxEntry,
  sandboxLabels,
  type SandboxPod,
  type SandboxScrape,
  type SandboxUsage,
  servedName,
} from "./_render.ts";

/** A new state of the aggregate, built step by step before it replaces the current one. */
interface Pending {
  entries: Map<string, SandboxEntry>;
  skipped: number;
  /** The rendering made ahead, under its cache key. */
  body?: { key: string; body: SharedBody };
}

/** Options of {@linkcode MetricsAggregator.updateInSlices}. */
export interface SliceOptions {
  /** Work between two pauses, in milliseconds; default 4. */
  sliceMs?: number;
  /** The pause between slices; default a macrotask (`setTimeout(0)`), so I/O runs. */
  pause?: () => Promise<void>;
  /** A rendering to make (and, with `gzip`, deflate) before the new state is served. */
  prebuild?: RenderOptions & { gzip?: boolean };
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

/** The merged metrics of every sandbox. */
export class MetricsAggregator {
  #entries = new Map<string, SandboxEntry>();
  readonly #options: Required<AggregatorOptions>;
  /** Renderings as bytes, by options, for the current state. */
  #bodies = new Map<string, SharedBody>();
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
    const steps = this.#prepare(scrapes, undefined);
    let step = steps.next();
    while (!step.done) step = steps.next();
    if (step.value) this.#commit(step.value);
  }

  /**
   * {@linkcode update} in slices of about `sliceMs`, pausing between them so that the event
   * loop serves requests and scrapes meanwhile, with a rendering made (and deflated) ahead.
   * The current state is served, unchanged, until the new one is complete. Calls must not
   * overlap.
   */
  async updateInSlices(
    scrapes: Iterable<SandboxScrape>,
    options: SliceOptions = {},
  ): Promise<void> {
    const sliceMs = options.sliceMs ?? 4;
    const pause = options.pause ?? macrotask;
    const steps = this.#prepare(scrapes, options.prebuild);
    let sliceStart = performance.now();
    for (let step = steps.next();; step = steps.next()) {
      if (step.done) {
        if (step.value) this.#commit(step.value);
        return;
      }
      if (performance.now() - sliceStart >= sliceMs) {
        await pause();
        sliceStart = performance.now();
      }
    }
  }

  #commit(pending: Pending): void {
    this.#entries = pending.entries;
    for (const body of this.#bodies.values()) body.retire();
    this.#bodies = new Map(pending.body ? [[pending.body.key, pending.body.body]] : []);
    this.#cadvisor = undefined;
    this.skippedLines += pending.skipped;
  }

  /**
   * The new state for `scrapes`, one sandbox (or one piece of deflating) per step; returns
   * `undefined` when nothing changed.
   */
  *#prepare(
    scrapes: Iterable<SandboxScrape>,
    prebuild: SliceOptions["prebuild"],
  ): Generator<void, Pending | undefined> {
    const entries = new Map<string, SandboxEntry>();
    let skipped = 0;
    let changed = false;
    for (const scrape of scrapes) {
      const existing = this.#entries.get(scrape.id);
      if (scrape.rendered !== undefined) {
        // Rendered by the scrape worker: taken as it is.
        entries.set(scrape.id, scrape.rendered);
        if (scrape.rendered !== existing) {
          changed = true;
          skipped += scrape.rendered.skipped;
        }
        continue;
      }
      if (scrape.text === undefined) {
        if (existing) changed = true;
        continue;
      }
      const podKey = podKeyOf(scrape.pod);
      if (existing && existing.text === scrape.text && existing.podKey === podKey) {
        entries.set(scrape.id, existing);
        continue;
      }
      changed = true;
      const entry = renderSandbox({ ...scrape, text: scrape.text }, existing, this.#options);
      if (entry) {
        entries.set(scrape.id, entry);
        skipped += entry.skipped;
      }
      yield;
    }
    if (!changed && entries.size === this.#entries.size) return undefined;
    const pending: Pending = { entries, skipped };
    if (prebuild) {
      const key = bodyKey(prebuild);
      const body = new SharedBody(assemble(entries, prebuild));
      yield;
      if (prebuild.gzip) yield* body.deflating();
      pending.body = { key, body };
    }
    return pending;
  }

  /**
   * The derived cAdvisor-style families of every sandbox, one per name (samples of sandboxes
   * in id order), computed once per change of the aggregate.
   */
  cadvisorFamilies(): MetricFamily[] {
    if (this.#cadvisor) return this.#cadvisor;
    const byName = new Map<string, MetricFamily>();
    for (const id of [...this.#entries.keys()].sort()) {
      for (const segment of this.#entries.get(id)!.segments) {
        const derived = segment.derived;
        if (!derived) continue;
        const family = byName.get(segment.name);
        if (family) family.samples.push(...derived.samples);
        else byName.set(segment.name, { ...derived, samples: [...derived.samples] });
      }
    }
    this.#cadvisor = [...byName.values()];
    return this.#cadvisor;
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
    if (!options.openMetrics) return decoder.decode(assemble(this.#entries, options));
    return renderOpenMetrics(this.#entries, options);
  }

  /**
   * {@linkcode render}'s output as a {@linkcode SharedBody}, rendered, encoded and (on first
   * use) deflated once per change of the aggregate, whatever the number of requests asking
   * for it: handing the server a multi-megabyte string, or a fresh copy, per request is what
   * made memory grow under load. The unfiltered body is always kept; other renderings (a
   * `filter_family`, OpenMetrics) the last few asked for.
   */
  body(options: RenderOptions = {}): SharedBody {
    const key = bodyKey(options);
    const cached = this.#bodies.get(key);
    if (cached) return cached;
    const body = new SharedBody(
      options.openMetrics
        ? encoder.encode(renderOpenMetrics(this.#entries, options))
        : assemble(this.#entries, options),
    );
    if (this.#bodies.size >= MAX_CACHED_BODIES) {
      // The unfiltered body stays: every Prometheus asks for it.
      const evict = [...this.#bodies.keys()].find((k) => !/^text\|(true|false)\|$/.test(k));
      if (evict !== undefined) {
        this.#bodies.get(evict)!.retire();
        this.#bodies.delete(evict);
      }
    }
    this.#bodies.set(key, body);
    return body;
  }
}

/** Renderings kept per state of the aggregate, the unfiltered one among them. */
const MAX_CACHED_BODIES = 4;

function bodyKey(options: RenderOptions): string {
  return `${options.openMetrics ? "om" : "text"}|${options.cadvisor ?? true}|${
    (options.families ?? []).join(",")
  }`;
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A filter on served family names from {@linkcode RenderOptions}. */
function keeper(options: RenderOptions): (segment: Segment) => boolean {
  const prefixes = options.families ?? [];
  const cadvisor = options.cadvisor ?? true;
  return (segment) =>
    (cadvisor || segment.derived === undefined) &&
    (prefixes.length === 0 || prefixes.some((prefix) => segment.name.startsWith(prefix)));
}

/** The segments of every sandbox that `options` keeps, by family name in name order. */
function groups(
  entries: ReadonlyMap<string, SandboxEntry>,
  options: RenderOptions,
): [string, { entry: SandboxEntry; segment: Segment }[]][] {
  const keep = keeper(options);
  const byName = new Map<string, { entry: SandboxEntry; segment: Segment }[]>();
  for (const id of [...entries.keys()].sort()) {
    const entry = entries.get(id)!;
    for (const segment of entry.segments) {
      if (!keep(segment)) continue;
      const group = byName.get(segment.name);
      if (group) group.push({ entry, segment });
      else byName.set(segment.name, [{ entry, segment }]);
    }
  }
  return [...byName].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The text format body as bytes: each family's header (the first sandbox's) and every
 * sandbox's lines of it, copied from the sandboxes' bytes into one array, with no string
 * of the whole body ever made.
 */
function assemble(
  entries: ReadonlyMap<string, SandboxEntry>,
  options: RenderOptions,
): Uint8Array<ArrayBuffer> {
  const plan = groups(entries, options).map(([, members]) => ({
    header: encoder.encode(members[0]!.segment.header),
    members,
  }));
  let length = 0;
  for (const { header, members } of plan) {
    length += header.length;
    for (const { segment } of members) length += segment.end - segment.start;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const { header, members } of plan) {
    out.set(header, at);
    at += header.length;
    for (const { entry, segment } of members) {
      out.set(entry.bytes.subarray(segment.start, segment.end), at);
      at += segment.end - segment.start;
    }
  }
  return out;
}

/** The OpenMetrics body (no `# EOF`), from the sandboxes' texts parsed again. */
function renderOpenMetrics(
  entries: ReadonlyMap<string, SandboxEntry>,
  options: RenderOptions,
): string {
  const parsed = new Map<SandboxEntry, Map<string, MetricFamily>>();
  const familyOf = (entry: SandboxEntry, segment: Segment): MetricFamily | undefined => {
    if (segment.derived) return segment.derived;
    let byName = parsed.get(entry);
    if (!byName) {
      byName = new Map();
      for (const family of parsePrometheusText(entry.text, { lenient: true })) {
        byName.set(servedName(family.name), family);
      }
      parsed.set(entry, byName);
    }
    return byName.get(segment.name);
  };
  const parts: string[] = [];
  for (const [name, members] of groups(entries, options)) {
    const first = familyOf(members[0]!.entry, members[0]!.segment);
    if (!first) continue;
    parts.push(serializeHeader(first, { name, openMetrics: true }));
    for (const { entry, segment } of members) {
      const family = familyOf(entry, segment);
      if (!family) continue;
      const labels = segment.derived ? {} : entry.labels;
      parts.push(serializeSamples(family, labels, { name, openMetrics: true }));
    }
  }
  return parts.join("");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
