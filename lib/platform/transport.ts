/**
 * How the streamer reaches the platform, whatever the wire: a snapshot, batches of events,
 * heartbeats. {@linkcode HttpTransport} speaks the platform's HTTP API; the gRPC transport
 * (`grpc.ts`) its streaming service.
 *
 * @module
 */
import type { ResourceGraph } from "../cluster/mod.ts";
import type { PlatformHttp } from "./http.ts";
import {
  type Heartbeat,
  type PlatformEvent,
  type SnapshotHeader,
  snapshotStream,
} from "./payload.ts";

/**
 * A way to the platform. Each method resolves once the platform has the data, and throws
 * `PlatformRejected` (refused: do not send it again) or `PlatformUnreachable` (try later).
 */
export interface PlatformTransport {
  snapshot(header: SnapshotHeader, graph: ResourceGraph, signal: AbortSignal): Promise<void>;
  /** `onRetry` hears of each retry of this batch. */
  events(
    events: PlatformEvent[],
    signal: AbortSignal,
    onRetry?: (reason: string) => void,
  ): Promise<void>;
  heartbeat(beat: Heartbeat, signal: AbortSignal): Promise<void>;
  /**
   * Releases connections; nothing is sent after it. With `drain` (a shutdown), what the
   * transport still holds is sent first, briefly.
   */
  close(drain: boolean): Promise<void>;
}

/** The platform's HTTP API: `POST /api/v1/agent/{snapshot,events,heartbeat}`. */
export class HttpTransport implements PlatformTransport {
  #sequence = 0;
  /** Tells this agent's batches from another's (or an earlier leader term's). */
  readonly session: string = crypto.randomUUID();

  /** Sends through `http` (which holds the URL, the token and the retry rules). */
  constructor(private readonly http: PlatformHttp, private readonly clusterUid: () => string) {}

  /** Streams the snapshot, read from the graph page by page for every try. */
  async snapshot(header: SnapshotHeader, graph: ResourceGraph, signal: AbortSignal): Promise<void> {
    const takenAt = new Date();
    await this.http.post(
      "/api/v1/agent/snapshot",
      () => snapshotStream(header, graph, takenAt),
      signal,
    );
  }

  /**
   * Sends a batch with this transport's session and a sequence number, so that a platform can
   * drop a batch it got twice (an answer lost after the platform stored it is retried).
   */
  async events(
    events: PlatformEvent[],
    signal: AbortSignal,
    onRetry?: (reason: string) => void,
  ): Promise<void> {
    const body = JSON.stringify({
      cluster_uid: this.clusterUid(),
      session: this.session,
      sequence: ++this.#sequence,
      events,
    });
    await this.http.post("/api/v1/agent/events", body, signal, onRetry);
  }

  /** Sends a heartbeat. */
  async heartbeat(beat: Heartbeat, signal: AbortSignal): Promise<void> {
    await this.http.post("/api/v1/agent/heartbeat", JSON.stringify(beat), signal);
  }

  /** Nothing to release: fetch pools its own connections, and nothing is held. */
  close(_drain: boolean): Promise<void> {
    return Promise.resolve();
  }
}
