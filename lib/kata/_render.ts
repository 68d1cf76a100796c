/**
 * One sandbox's shim text turned into what the aggregate keeps of it: kata-monitor's labels
 * written into every sample line, families renamed as kata-monitor renames them, the lines
 * as bytes with where each family's are, and the cAdvisor-style families derived from the
 * guest's metrics. Pure and free of metrics libraries, so that it runs in the scrape worker.
 *
 * @module
 */
import { type CadvisorPod, deriveCadvisor } from "./cadvisor.ts";
import type { Labels, MetricFamily } from "../prom/mod.ts";
import { release } from "../release.ts";
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
  /**
   * The shim's text, or `undefined` when the last scrape failed (its samples are dropped);
   * not read when `rendered` is given.
   */
  text: string | undefined;
  /** When it was scraped (milliseconds since the epoch). */
  scrapedAt: number | undefined;
  pod: SandboxPod | undefined;
  /**
   * The sandbox already rendered from its text and `pod` (by the scrape worker): used as it
   * is, whatever `text` says.
   */
  rendered?: SandboxEntry;
}

/** Options of {@linkcode renderSandbox}. */
export interface RenderSandboxOptions {
  /** Most samples one shim may bring; more is treated as a failed scrape. */
  maxSamplesPerShim: number;
  /** Whether to serve the derived cAdvisor-style series (of sandboxes whose pod is known). */
  cadvisor: boolean;
}

/** What tells one pod's labels from another's: a rendering is redone when it changes. */
export function podKeyOf(pod: SandboxPod | undefined): string {
  return pod ? `${pod.uid}\0${pod.name}\0${pod.namespace}` : "";
}

/**
 * Renders one sandbox's text; `previous` (its last rendering) gives the CPU rate. Returns
 * `undefined` when the text has more than `maxSamplesPerShim` samples.
 *
 * @example Usage
 * ```ts
 * const entry = renderSandbox(
 *   { id, text, scrapedAt: Date.now(), pod: undefined },
 *   undefined,
 *   { maxSamplesPerShim: 100_000, cadvisor: true },
 * );
 * ```
 */
export function renderSandbox(
  scrape: SandboxScrape & { text: string },
  previous: Pick<SandboxEntry, "usage" | "scrapedAt"> | undefined,
  options: RenderSandboxOptions,
): SandboxEntry | undefined {
  const stats: ParseStats = { samples: 0, skipped: 0, errors: [] };
  let parsed: MetricFamily[];
  try {
    parsed = parsePrometheusText(scrape.text, {
      lenient: true,
      maxSamples: options.maxSamplesPerShim,
      stats,
    });
  } catch {
    return undefined;
  }
  const labels = sandboxLabels(scrape.id, scrape.pod);
  const pieces: { name: string; header: string; lines: string; derived?: MetricFamily }[] = [];
  for (const family of parsed) {
    const name = servedName(family.name);
    try {
      pieces.push({
        name,
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
  if (options.cadvisor && pod.id) {
    for (const family of derived) {
      pieces.push({
        name: family.name,
        header: serializeHeader(family),
        lines: serializeSamples(family),
        derived: family,
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
  const { bytes, offsets } = encodePieces(pieces.map((p) => p.lines));
  return {
    text: scrape.text,
    podKey: podKeyOf(scrape.pod),
    labels,
    scrapedAt: scrape.scrapedAt,
    bytes,
    segments: pieces.map((piece, i) => ({
      name: piece.name,
      header: piece.header,
      start: offsets[i]!,
      end: offsets[i + 1]!,
      ...(piece.derived ? { derived: piece.derived } : {}),
    })),
    skipped: stats.skipped,
    usage,
  };
}

/**
 * A family of one sandbox: its header (under the name served) and where its sample lines
 * are in the sandbox's bytes.
 */
export interface Segment {
  name: string;
  header: string;
  start: number;
  end: number;
  /**
   * A cAdvisor-style family derived from the guest's metrics (`container_*`), kept parsed:
   * the daemon merges these with the host's containers' families of the same names.
   */
  derived?: MetricFamily;
}

/**
 * One sandbox as rendered from its last scrape: only its sample lines as bytes, family by
 * family, are kept (about the size of the shim's text), not the parsed samples; the rare
 * OpenMetrics answer parses the text again. Made where the shim is scraped (a worker) and
 * handed over with its bytes transferred, so it holds only data that can be cloned.
 */
export interface SandboxEntry {
  text: string;
  podKey: string;
  /** kata-monitor's labels of this sandbox. */
  labels: Labels;
  scrapedAt: number | undefined;
  bytes: Uint8Array;
  segments: Segment[];
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

/** kata-monitor's renaming: `go_...` and `process_...` shim families become `kata_shim_...`. */
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

/** Encodes strings into one array; `offsets[i]` is where the i-th starts (and the end last). */
function encodePieces(texts: string[]): { bytes: Uint8Array; offsets: number[] } {
  const joined = texts.join("");
  const bytes = encoder.encode(joined);
  const offsets = [0];
  if (bytes.length === joined.length) {
    // ASCII, the usual case: character offsets are byte offsets.
    for (const text of texts) offsets.push(offsets[offsets.length - 1]! + text.length);
  } else {
    for (const text of texts) {
      offsets.push(offsets[offsets.length - 1]! + encoder.encode(text).length);
    }
  }
  return { bytes, offsets };
}

const encoder = new TextEncoder();

/**
 * The families of a sandbox without their lines: names and headers, the same for every
 * sandbox of a shim version, so that they cross to the daemon's thread once, not once per
 * sandbox and cycle (cloning 53 segment objects per sandbox cost 150 ms per 1,000).
 */
export interface Layout {
  names: string[];
  headers: string[];
  /** How many of the last families are derived (cAdvisor-style). */
  derived: number;
}

/** A {@linkcode SandboxEntry} as it crosses between threads: flat, its arrays transferable. */
export interface PackedEntry extends Omit<SandboxEntry, "segments" | "text"> {
  /**
   * The shim's text as UTF-8, transferred: a string would be cloned into the receiver's heap
   * (13.5 MB per cycle at 1,000 sandboxes) for the rare OpenMetrics answer that reads it.
   */
  text: Uint8Array<ArrayBuffer>;
  /** The {@linkcode Layout}'s number in the sender's table. */
  layout: number;
  /** Where each family's lines start in `bytes`, and the end last. */
  offsets: Uint32Array<ArrayBuffer>;
  /** The derived families, in order (the last `layout.derived` families). */
  derived: MetricFamily[];
}

/** Packs entries for another thread, numbering layouts as it meets them. */
export class EntryPacker {
  readonly #ids = new Map<string, number>();
  readonly #layouts: Layout[] = [];

  /** Packs `entry`, with the buffers to transfer. */
  pack(entry: SandboxEntry): { packed: PackedEntry; transfer: ArrayBuffer[] } {
    const { segments, text, ...rest } = entry;
    const names = segments.map((s) => s.name);
    const headers = segments.map((s) => s.header);
    const derived = segments.flatMap((s) => s.derived ? [s.derived] : []);
    const key = `${derived.length}\n${names.join("\n")}\n${headers.join("")}`;
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.#layouts.length;
      this.#ids.set(key, id);
      this.#layouts.push({ names, headers, derived: derived.length });
    }
    const offsets = new Uint32Array(segments.length + 1);
    segments.forEach((s, i) => (offsets[i] = s.start));
    offsets[segments.length] = segments.at(-1)?.end ?? 0;
    const textBytes = encoder.encode(text);
    return {
      packed: { ...rest, text: textBytes, layout: id, offsets, derived },
      transfer: [entry.bytes.buffer as ArrayBuffer, offsets.buffer, textBytes.buffer],
    };
  }

  /** The layout numbered `id`. */
  layout(id: number): Layout {
    return this.#layouts[id]!;
  }
}

/** The entry `packed` was made from, with the layouts of its sender. */
export function unpackEntry(
  packed: PackedEntry,
  layouts: ReadonlyMap<number, Layout>,
): SandboxEntry {
  const { layout: id, offsets, derived, text, ...rest } = packed;
  const layout = layouts.get(id);
  if (layout === undefined) throw new Error(`Unknown layout ${id}`);
  const first = layout.names.length - layout.derived;
  const segments: Segment[] = layout.names.map((name, i) => ({
    name,
    header: layout.headers[i]!,
    start: offsets[i]!,
    end: offsets[i + 1]!,
    ...(i >= first ? { derived: derived[i - first]! } : {}),
  }));
  const entry: SandboxEntry = {
    ...rest,
    segments,
    // Decoded when read: only an OpenMetrics answer does.
    get text() {
      return decoder.decode(text);
    },
  };
  unpacked.set(entry, text);
  return entry;
}

/** The text bytes of each entry made by {@linkcode unpackEntry}. */
const unpacked = new WeakMap<SandboxEntry, Uint8Array<ArrayBuffer>>();

/**
 * Frees the memory of an entry made by {@linkcode unpackEntry} (its lines and its text) now,
 * rather than when V8 next collects its old generation, which it does only once dead
 * buffers have grown well past the live set (several cycles of every sandbox). Only for an
 * entry that nothing reads any more: its arrays are empty afterwards.
 */
export function releaseEntry(entry: SandboxEntry): void {
  release(entry.bytes);
  const text = unpacked.get(entry);
  if (text !== undefined) release(text);
}

const decoder = new TextDecoder();
