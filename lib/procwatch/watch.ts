/**
 * The process watch over time: scans (`scan.ts`) one after another, each process reported
 * once per pattern (a process is its pid and start time), its pod and container named, and
 * the counts as metric families:
 *
 * - `agent_process_findings_total{pattern, namespace, pod}`: processes found matching a
 *   pattern (namespace and pod empty for a process of the host);
 * - `agent_process_scans_total` and `agent_process_scan_duration_seconds` (the last scan's).
 *
 * Memory is bounded: the identities already reported are the last `maxSeen`, the label sets
 * of the counter at most `maxLabelSets` (beyond, findings count under empty namespace and
 * pod, and their log lines still name them).
 *
 * @module
 */
import type { Labels, MetricFamily } from "../prom/mod.ts";
import type { Pattern } from "./patterns.ts";
import { type Finding, scanProcesses } from "./scan.ts";

/** A pod and container, as far as they are known. */
export interface PodRef {
  namespace: string;
  pod: string;
  /** The container's name, or its id when the name is unknown. */
  container: string;
}

/** Names the pod and container of a process from its cgroup's ids. */
export interface PodResolver {
  lookup(podUid: string, containerId: string | undefined): Promise<PodRef | undefined>;
}

/** A finding reported for the first time, with its pod. */
export interface Report extends Finding {
  pod?: PodRef;
}

/** Options of {@linkcode ProcessWatch}. */
export interface ProcessWatchOptions {
  proc: string;
  patterns: readonly Pattern[];
  pods?: PodResolver;
  warn(source: string, reason: string): void;
  maxSeen?: number;
  maxLabelSets?: number;
}

/** Scans processes again and again, reporting each finding once. */
export class ProcessWatch {
  readonly #options: ProcessWatchOptions;
  readonly #seen = new Set<string>();
  readonly #counts = new Map<string, { labels: Labels; value: number }>();
  #scans = 0;
  #lastSeconds = 0;

  /** Watches with `options`. */
  constructor(options: ProcessWatchOptions) {
    this.#options = options;
  }

  /** Scans now; returns what was not reported before. */
  async scan(): Promise<Report[]> {
    const started = performance.now();
    const { proc, patterns, warn, pods } = this.#options;
    const findings = await scanProcesses({ proc, patterns, warn });
    const reports: Report[] = [];
    for (const finding of findings) {
      const { process } = finding;
      const key = `${finding.pattern.name}|${process.pid}|${process.start}`;
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      if (this.#seen.size > (this.#options.maxSeen ?? 10_000)) {
        this.#seen.delete(this.#seen.values().next().value!);
      }
      const pod = process.podUid
        ? await pods?.lookup(process.podUid, process.containerId).catch(() => undefined) ??
          { namespace: "", pod: process.podUid, container: process.containerId?.slice(0, 12) ?? "" }
        : undefined;
      reports.push({ ...finding, ...(pod ? { pod } : {}) });
      this.#count(finding.pattern.name, pod);
    }
    this.#scans++;
    this.#lastSeconds = (performance.now() - started) / 1000;
    return reports;
  }

  #count(pattern: string, pod: PodRef | undefined): void {
    let labels: Labels = { pattern, namespace: pod?.namespace ?? "", pod: pod?.pod ?? "" };
    let key = JSON.stringify(labels);
    if (!this.#counts.has(key) && this.#counts.size >= (this.#options.maxLabelSets ?? 1000)) {
      labels = { pattern, namespace: "", pod: "" };
      key = JSON.stringify(labels);
    }
    const entry = this.#counts.get(key) ?? { labels, value: 0 };
    entry.value++;
    this.#counts.set(key, entry);
  }

  /** The watch's metric families, for `/metrics`. */
  families(): MetricFamily[] {
    const findings: MetricFamily = {
      name: "agent_process_findings_total",
      help:
        "Processes found matching a pattern of the process watch (crypto-miners, reverse shells, setuid escalation), by pattern and pod.",
      type: "counter",
      samples: [...this.#counts.values()].map(({ labels, value }) => ({
        name: "agent_process_findings_total",
        labels,
        value,
      })),
    };
    // Every pattern has a sample from the start, so that a rate over it sees the first.
    for (const pattern of this.#options.patterns) {
      if (![...this.#counts.values()].some((c) => c.labels.pattern === pattern.name)) {
        findings.samples.push({
          name: "agent_process_findings_total",
          labels: { pattern: pattern.name, namespace: "", pod: "" },
          value: 0,
        });
      }
    }
    return [findings, {
      name: "agent_process_scans_total",
      help: "Scans of the node's processes by the process watch.",
      type: "counter",
      samples: [{ name: "agent_process_scans_total", labels: {}, value: this.#scans }],
    }, {
      name: "agent_process_scan_duration_seconds",
      help: "How long the last scan of the node's processes took.",
      type: "gauge",
      samples: [{
        name: "agent_process_scan_duration_seconds",
        labels: {},
        value: this.#lastSeconds,
      }],
    }];
  }
}
