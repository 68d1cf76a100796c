/**
 * The streamer: while this agent leads, it sends the platform a snapshot of the graph, then
 * every change of it as events, and a heartbeat every `heartbeatIntervalMs`. Changes wait in
 * a bounded buffer (full: the change is dropped, counted, and a new snapshot is due, since
 * the platform's picture now has a hole) and leave through a token bucket. A batch the
 * platform could not take goes back to the front of the buffer and is tried again after a
 * pause; one it refused is dropped and counted. Stopped for shutdown, it drains what is
 * buffered (through the bucket, within `drainTimeoutMs`); stopped because another agent took
 * the lease, it stops at once.
 *
 * @module
 */
import type { ResourceGraph } from "../cluster/mod.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../pool.ts";
import { BoundedBuffer } from "./buffer.ts";
import { CredentialsMissing, PlatformRejected } from "./http.ts";
import { TokenBucket } from "./limiter.ts";
import { eventOf, type PlatformEvent, type SnapshotHeader } from "./payload.ts";
import type { PlatformTransport } from "./transport.ts";

/** What the streamer tells metrics. */
export interface StreamerHooks {
  sent?(kind: string, count: number): void;
  dropped?(kind: string, reason: "buffer_full" | "rejected" | "shutdown", count: number): void;
  retried?(kind: string, count: number): void;
  synced?(atMs: number): void;
  snapshot?(seconds: number, atMs: number): void;
}

/** Options of {@linkcode Streamer}. */
export interface StreamerOptions {
  graph: ResourceGraph;
  transport: PlatformTransport;
  /** The snapshot's identity fields, read again for every snapshot. */
  header(): Promise<SnapshotHeader>;
  log: Logger;
  bufferSize: number;
  eventsPerSecond: number;
  burstSize: number;
  heartbeatIntervalMs: number;
  /** Events per request, at most (default 100). */
  batchSize?: number;
  /** Pause after the transport gave up, doubling up to 60 s (default 2 s). */
  pauseMs?: number;
  /** How long a shutdown may spend sending what is buffered (default 10 s). */
  drainTimeoutMs?: number;
  hooks?: StreamerHooks;
  now?: () => number;
}

/**
 * The streamer of one leadership term.
 *
 * @example Usage
 * ```ts ignore
 * const streamer = new Streamer({ graph, transport, header, log, bufferSize: 1000, ... });
 * await streamer.run(signal, () => shuttingDown);
 * ```
 */
export class Streamer {
  readonly #buffer: BoundedBuffer<PlatformEvent>;
  readonly #bucket: TokenBucket;
  #needSnapshot = true;
  #lastSnapshotAt: number | undefined;
  #lastSyncAt: number | undefined;
  #problem: { reason: string; message: string } | undefined;

  /** Creates a streamer; {@linkcode run} starts it. */
  constructor(private readonly options: StreamerOptions) {
    this.#buffer = new BoundedBuffer(options.bufferSize);
    this.#bucket = new TokenBucket(options.eventsPerSecond, options.burstSize);
  }

  /** Events waiting to be sent. */
  get buffered(): number {
    return this.#buffer.size;
  }

  /** Where the stream stands, for the AgentConfig's status. */
  state(): {
    lastSyncAt?: number;
    lastSnapshotAt?: number;
    problem?: { reason: string; message: string };
    snapshotPending: boolean;
  } {
    return {
      lastSyncAt: this.#lastSyncAt,
      lastSnapshotAt: this.#lastSnapshotAt,
      problem: this.#problem,
      snapshotPending: this.#needSnapshot || this.#lastSnapshotAt === undefined,
    };
  }

  /** Records a success (when `error` is undefined) or why the platform was not reached. */
  #outcome(error?: unknown): void {
    if (error === undefined) {
      this.#problem = undefined;
      this.#lastSyncAt = (this.options.now ?? Date.now)();
      this.options.hooks?.synced?.(this.#lastSyncAt);
      return;
    }
    this.#problem = {
      reason: error instanceof CredentialsMissing
        ? "CredentialsMissing"
        : error instanceof PlatformRejected
        ? "PlatformRejected"
        : "PlatformUnreachable",
      message: errorMessage(error),
    };
  }

  /**
   * Streams until `signal` aborts; then, when `drain()` says so, sends what is buffered.
   * Never throws for the platform's failures: it counts, logs and tries again.
   */
  async run(signal: AbortSignal, drain: () => boolean = () => false): Promise<void> {
    const o = this.options;
    const unsubscribe = o.graph.subscribe((change) => this.#enqueue(eventOf(change)));
    const heartbeats = this.#heartbeats(signal);
    try {
      await this.#loop(signal);
    } finally {
      unsubscribe();
      if (drain()) await this.#drain();
      const left = this.#buffer.take(this.#buffer.size);
      this.#count(left, (kind, n) => o.hooks?.dropped?.(kind, "shutdown", n));
      await heartbeats;
    }
  }

  #enqueue(event: PlatformEvent): void {
    if (this.#buffer.push(event)) return;
    this.options.hooks?.dropped?.(event.kind, "buffer_full", 1);
    if (!this.#needSnapshot) {
      this.options.log.warn(
        "platform event buffer full: dropping changes; a new snapshot follows",
        {
          bufferSize: this.options.bufferSize,
        },
      );
    }
    this.#needSnapshot = true;
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const batchSize = o.batchSize ?? 100;
    let failures = 0;
    const pause = async () => {
      failures++;
      const ms = Math.min(60_000, (o.pauseMs ?? 2000) * 2 ** (failures - 1));
      await sleep(ms, signal);
    };
    while (!signal.aborted) {
      if (this.#needSnapshot) {
        if (await this.#snapshot(signal)) failures = 0;
        else await pause();
        continue;
      }
      await this.#buffer.waitForItems(signal);
      if (signal.aborted) break;
      const granted = await this.#bucket.take(Math.min(batchSize, this.#buffer.size), signal);
      if (granted === 0 || this.#needSnapshot) continue;
      const batch = this.#buffer.take(granted);
      const outcome = await this.#send(batch, signal);
      if (outcome === "unreachable") {
        // Back to the front, before what came meanwhile: order is kept.
        const kept = this.#buffer.unshift(batch);
        if (kept < batch.length) {
          this.#count(batch.slice(kept), (kind, n) => o.hooks?.dropped?.(kind, "buffer_full", n));
          this.#needSnapshot = true;
        }
        if (!signal.aborted) await pause();
      } else {
        failures = 0;
      }
    }
  }

  /** Sends a snapshot; whether it got there. */
  async #snapshot(signal: AbortSignal): Promise<boolean> {
    const o = this.options;
    const now = o.now ?? Date.now;
    // What is buffered is in the graph, hence in the snapshot; what changes while it is sent
    // is buffered again and follows it.
    this.#buffer.clear();
    this.#needSnapshot = false;
    const started = performance.now();
    try {
      const header = await o.header();
      await o.transport.snapshot(header, o.graph, signal);
      const seconds = (performance.now() - started) / 1000;
      const at = now();
      this.#lastSnapshotAt = at;
      o.hooks?.snapshot?.(seconds, at);
      this.#outcome();
      o.log.info("snapshot sent to the platform", {
        resources: o.graph.size,
        seconds: round(seconds),
      });
      return true;
    } catch (error) {
      if (signal.aborted) return false;
      this.#needSnapshot = true;
      this.#outcome(error);
      o.log[error instanceof PlatformRejected ? "error" : "warn"]("cannot send the snapshot", {
        error: errorMessage(error),
      });
      return false;
    }
  }

  /** Sends a batch of events: `sent`, `rejected` (dropped) or `unreachable` (to retry). */
  async #send(
    batch: PlatformEvent[],
    signal: AbortSignal,
  ): Promise<"sent" | "rejected" | "unreachable"> {
    const o = this.options;
    try {
      await o.transport.events(
        batch,
        signal,
        () => this.#count(batch, (kind, n) => o.hooks?.retried?.(kind, n)),
      );
      this.#count(batch, (kind, n) => o.hooks?.sent?.(kind, n));
      this.#outcome();
      return "sent";
    } catch (error) {
      if (!signal.aborted) this.#outcome(error);
      if (error instanceof PlatformRejected) {
        this.#count(batch, (kind, n) => o.hooks?.dropped?.(kind, "rejected", n));
        o.log.warn("the platform refused a batch of events: dropped", {
          events: batch.length,
          error: errorMessage(error),
        });
        return "rejected";
      }
      if (!signal.aborted) {
        o.log.warn("cannot send events to the platform; keeping them", {
          events: batch.length,
          buffered: this.#buffer.size + batch.length,
          error: errorMessage(error),
        });
      }
      return "unreachable";
    }
  }

  /** Sends what is buffered through the bucket, until empty or the drain time is over. */
  async #drain(): Promise<void> {
    const o = this.options;
    if (this.#buffer.size === 0 || this.#needSnapshot) return;
    const deadline = AbortSignal.timeout(o.drainTimeoutMs ?? 10_000);
    const before = this.#buffer.size;
    while (this.#buffer.size > 0 && !deadline.aborted) {
      const granted = await this.#bucket.take(
        Math.min(o.batchSize ?? 100, this.#buffer.size),
        deadline,
      );
      if (granted === 0) break;
      const batch = this.#buffer.take(granted);
      if (await this.#send(batch, deadline) === "unreachable") {
        this.#buffer.unshift(batch);
        break;
      }
    }
    o.log.info("drained platform events", {
      sent: before - this.#buffer.size,
      left: this.#buffer.size,
    });
  }

  async #heartbeats(signal: AbortSignal): Promise<void> {
    const o = this.options;
    while (!signal.aborted) {
      await sleep(o.heartbeatIntervalMs, signal);
      if (signal.aborted) return;
      try {
        const header = await o.header();
        await o.transport.heartbeat({
          cluster_uid: header.cluster_uid,
          cluster_name: header.cluster_name,
          agent_version: header.agent_version,
          sent_at: new Date((o.now ?? Date.now)()).toISOString(),
          resource_counts: o.graph.counts(),
          buffered: this.#buffer.size,
          last_snapshot_at: this.#lastSnapshotAt === undefined
            ? null
            : new Date(this.#lastSnapshotAt).toISOString(),
        }, signal);
        this.#outcome();
      } catch (error) {
        if (signal.aborted) return;
        this.#outcome(error);
        o.log.warn("cannot send a heartbeat", { error: errorMessage(error) });
      }
    }
  }

  /** Calls `fn` once per kind with how many of `events` are of it. */
  #count(events: PlatformEvent[], fn: (kind: string, count: number) => void): void {
    const counts = new Map<string, number>();
    for (const e of events) counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
    for (const [kind, n] of counts) fn(kind, n);
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
