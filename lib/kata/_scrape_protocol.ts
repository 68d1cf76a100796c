/**
 * The messages between the daemon's thread and the scrape worker (`_scrape_worker.ts`): the
 * sandboxes and their pods go in, each publication of scrapes (with the sandboxes rendered
 * again since the last, their bytes transferred) comes out.
 *
 * @module
 */
import type { LogFields, LogLevel } from "../log.ts";
import type { Layout, PackedEntry, SandboxPod } from "./_render.ts";
import type { Sandbox } from "./sandboxes.ts";
import type { CycleStats } from "./scraper.ts";

/** The scrape loop's settings, as the worker is started with them. */
export interface ScrapeSettings {
  intervalMs: number;
  timeoutMs: number;
  concurrency: number;
  maxBytes: number;
  newSandboxRetriesMs?: readonly number[];
  /** Most samples one shim may bring; more is treated as a failed scrape. */
  maxSamplesPerShim: number;
  /** Whether the derived cAdvisor-style series are rendered (for sandboxes with a pod). */
  cadvisor: boolean;
  /** The lowest level of the log lines sent back. */
  logLevel: LogLevel;
}

/** What the daemon's thread tells the worker. */
export type ToWorker =
  | {
    type: "start";
    settings: ScrapeSettings;
    sandboxes: Sandbox[];
    pods: [string, SandboxPod][];
  }
  | { type: "added" | "removed"; sandbox: Sandbox }
  | { type: "pods"; pods: [string, SandboxPod][] }
  | { type: "stop" };

/** One sandbox's last scrape, without its text. */
export interface ScrapeState {
  sandbox: Sandbox;
  scrapedAt?: number;
  durationMs?: number;
  error?: string;
  lastSuccessAt?: number;
  consecutiveFailures: number;
}

/** What the worker tells the daemon's thread. */
export type FromWorker =
  | {
    /**
     * The scrape loop's publication, without renderings: every sandbox in id order (one
     * whose last scrape failed has no samples from now on; the others keep their last
     * rendering until the next `rendered`).
     */
    type: "publish";
    scrapes: ScrapeState[];
    /** Scrapes finished since the last publication: duration, then 1 (ok) or 0, in turn. */
    recorded: number[];
    /** The cycle that ended with this publication, if one did. */
    cycle?: CycleStats;
  }
  | {
    /** The sandboxes rendered again since the last `rendered`; `null`: no samples. */
    type: "rendered";
    rendered: [string, PackedEntry | null][];
    /** Layouts of families met for the first time, by number. */
    layouts: [number, Layout][];
    /** Whether every sandbox of the last cycle is now rendered. */
    cycleEnded: boolean;
  }
  | { type: "log"; level: LogLevel; message: string; fields?: LogFields }
  | { type: "stopped" };
