/**
 * The gRPC transport, for platforms that take a stream (`_proto.ts`): frames go out on a
 * client-streaming `Publish` call (changes batched by 100 or by the second, a heartbeat every
 * minute), which the agent ends every minute, or sooner once many frames wait, to learn from
 * the platform's answer the last frame it stored. Frames are kept until then. A call that
 * breaks is opened again with backoff, after `Resume` says where the session left off: the
 * frames after it are sent again, in order, and none before it, so nothing is lost or sent
 * twice across a reconnect. The frames kept are bounded: past `maxUnackedEvents` events,
 * `events()` refuses more (the streamer keeps them, then drops and snapshots again).
 *
 * @module
 */
import type * as Grpc from "@grpc/grpc-js";
import type { ResourceGraph } from "../cluster/mod.ts";
import { errorMessage } from "../errors.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../pool.ts";
import { STREAM_LOADER_OPTIONS, STREAM_PROTO, STREAM_SERVICE } from "./_proto.ts";
import { PlatformRejected, PlatformUnreachable } from "./http.ts";
import {
  type Heartbeat,
  type PlatformEvent,
  type SnapshotHeader,
  snapshotText,
} from "./payload.ts";
import type { PlatformTransport } from "./transport.ts";

/** Options of {@linkcode GrpcTransport}. */
export interface GrpcTransportOptions {
  /** `host:port` of the platform's gRPC service. */
  target: string;
  /** TLS (with the system's roots) or plaintext (a sidecar, a test). */
  secure: boolean;
  /** The access token (from the platform's token endpoint). */
  token(signal: AbortSignal): Promise<string>;
  /** The platform said `token` is not valid. */
  invalidateToken(token: string): void;
  clusterUid(): string;
  log: Logger;
  /** Events kept unacknowledged at most (default 1000). */
  maxUnackedEvents?: number;
  /** Events per frame at most (default 100), and how long a batch waits for more (1 s). */
  batchSize?: number;
  batchDelayMs?: number;
  /** A heartbeat frame, and the end of the call (for the acknowledgement), this often (60 s). */
  heartbeatMs?: number;
  /** Ends the call sooner once this many frames wait for an acknowledgement (default 64). */
  rotateFrames?: number;
  random?: () => number;
}

interface Frame {
  session: string;
  sequence: number;
  cluster_uid: string;
  snapshot?: { snapshot_id: string; index: number; last: boolean; json: Uint8Array };
  events?: { events: WireEvent[] };
  heartbeat?: Record<string, unknown>;
}

interface WireEvent {
  type: string;
  kind: string;
  uid: string;
  name: string;
  namespace: string;
  object_json: Uint8Array;
}

interface Loaded {
  grpc: typeof Grpc;
  publish: Grpc.MethodDefinition<Frame, { last_sequence: number }>;
  resume: Grpc.MethodDefinition<{ session: string }, { last_sequence: number }>;
}

let loaded: Promise<Loaded> | undefined;

/** Imports gRPC and compiles the proto, once per process. */
function loadGrpc(): Promise<Loaded> {
  loaded ??= (async () => {
    const [grpc, loader, protobuf] = await Promise.all([
      import("@grpc/grpc-js"),
      import("@grpc/proto-loader"),
      import("protobufjs"),
    ]);
    const { root } = protobuf.default.parse(STREAM_PROTO, { keepCase: true });
    const service = loader.fromJSON(root.toJSON(), STREAM_LOADER_OPTIONS)[STREAM_SERVICE] as Record<
      string,
      Grpc.MethodDefinition<unknown, unknown>
    >;
    return {
      grpc,
      publish: service.Publish as Loaded["publish"],
      resume: service.Resume as Loaded["resume"],
    };
  })();
  return loaded;
}

const encoder = new TextEncoder();

/** gRPC status codes. */
const UNAUTHENTICATED = 16;
const INVALID_ARGUMENT = 3;

/**
 * The transport.
 *
 * @example Usage
 * ```ts ignore
 * const transport = new GrpcTransport({ target: "platform:443", secure: true, token, ... });
 * await transport.events(batch, signal);
 * await transport.close();
 * ```
 */
export class GrpcTransport implements PlatformTransport {
  /** New for each transport: a platform tells this agent's frames from another's. */
  readonly session: string = crypto.randomUUID();
  #sequence = 0;
  #acked = 0;
  /** Frames written or to write, not yet acknowledged, in order. */
  #unacked: Frame[] = [];
  #unackedEvents = 0;
  #pending: WireEvent[] = [];
  #batchTimer: ReturnType<typeof setTimeout> | undefined;
  #call: Grpc.ClientWritableStream<Frame> | undefined;
  #rotate: (() => void) | undefined;
  /** An acknowledgement is awaited: the next call ends as soon as its backlog is written. */
  #rotateWanted = false;
  #waiters = new Set<() => void>();
  #lastBeat: Record<string, unknown> = {};
  readonly #closing = new AbortController();
  #running: Promise<void> | undefined;
  #client: Promise<{ loaded: Loaded; client: Grpc.Client }> | undefined;

  /** Creates the transport; the call opens with the first frame. */
  constructor(private readonly options: GrpcTransportOptions) {}

  /** Frames kept for an acknowledgement. */
  get unacknowledged(): number {
    return this.#unacked.length;
  }

  /** Streams the snapshot as chunks, and resolves once the platform acknowledged them all. */
  async snapshot(header: SnapshotHeader, graph: ResourceGraph, signal: AbortSignal): Promise<void> {
    this.#start();
    this.#flush();
    const id = crypto.randomUUID();
    let index = 0;
    let bytes = 0;
    let previous: string | undefined;
    // One piece behind, so that the last one is known when it is framed.
    for (const piece of snapshotText(header, graph, new Date())) {
      if (previous !== undefined) bytes += this.#chunk(id, index++, false, previous);
      previous = piece;
      if (bytes > 4 * 1024 * 1024) {
        // Flow control: at most a few MiB of a snapshot wait for an acknowledgement.
        await this.#settled(this.#sequence, signal);
        bytes = 0;
      }
    }
    this.#chunk(id, index, true, previous ?? "");
    await this.#settled(this.#sequence, signal);
  }

  /** Batches `events` into frames (100, or those of a second); refuses them when too many wait. */
  events(events: PlatformEvent[], _signal: AbortSignal): Promise<void> {
    this.#start();
    const max = this.options.maxUnackedEvents ?? 1000;
    if (this.#unackedEvents + this.#pending.length + events.length > max) {
      return Promise.reject(
        new PlatformUnreachable(
          `The platform's stream at ${this.options.target} holds ${this.#unackedEvents} unacknowledged events`,
        ),
      );
    }
    for (const e of events) {
      this.#pending.push({
        type: e.type,
        kind: e.kind,
        uid: e.uid,
        name: e.name,
        namespace: e.namespace,
        object_json: encoder.encode(JSON.stringify(e.object)),
      });
      if (this.#pending.length >= (this.options.batchSize ?? 100)) this.#flush();
    }
    if (this.#pending.length > 0 && this.#batchTimer === undefined) {
      this.#batchTimer = setTimeout(() => this.#flush(), this.options.batchDelayMs ?? 1000);
    }
    return Promise.resolve();
  }

  /** Sends a heartbeat frame (the transport also sends one every minute by itself). */
  heartbeat(beat: Heartbeat, _signal: AbortSignal): Promise<void> {
    this.#start();
    this.#lastBeat = {
      cluster_name: beat.cluster_name,
      agent_version: beat.agent_version,
      resource_counts: beat.resource_counts,
      buffered: beat.buffered,
      last_snapshot_at: beat.last_snapshot_at ?? "",
    };
    this.#beat();
    return Promise.resolve();
  }

  /**
   * Closes the connection; with `drain`, what waits is sent first and given 5 s to be
   * acknowledged (a leader that lost its Lease sends nothing more).
   */
  async close(drain = true): Promise<void> {
    if (drain) this.#flush();
    if (drain && this.#running) {
      // What is written gets one last chance to be acknowledged.
      await this.#settled(this.#sequence, AbortSignal.timeout(5000)).catch(() => {});
    }
    this.#closing.abort();
    this.#rotate?.();
    await this.#running;
    (await this.#client)?.client.close();
  }

  #start(): void {
    this.#running ??= this.#run();
  }

  #beat(): void {
    this.#frame({ heartbeat: { ...this.#lastBeat, sent_at: new Date().toISOString() } });
  }

  #chunk(id: string, index: number, last: boolean, text: string): number {
    const json = encoder.encode(text);
    this.#frame({ snapshot: { snapshot_id: id, index, last, json } });
    return json.length;
  }

  /** Turns what is pending into a frame. */
  #flush(): void {
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    if (this.#pending.length === 0) return;
    const events = this.#pending;
    this.#pending = [];
    this.#unackedEvents += events.length;
    this.#frame({ events: { events } });
  }

  #frame(body: Pick<Frame, "snapshot" | "events" | "heartbeat">): void {
    const frame: Frame = {
      session: this.session,
      sequence: ++this.#sequence,
      cluster_uid: this.options.clusterUid(),
      ...body,
    };
    this.#unacked.push(frame);
    this.#call?.write(frame);
    if (this.#unacked.length >= (this.options.rotateFrames ?? 64)) this.#requestRotation();
  }

  #requestRotation(): void {
    this.#rotateWanted = true;
    this.#rotate?.();
  }

  /** Resolves once every frame up to `sequence` is acknowledged. */
  #settled(sequence: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#acked >= sequence) {
          this.#waiters.delete(check);
          signal.removeEventListener("abort", abort);
          resolve();
        }
      };
      const abort = () => {
        this.#waiters.delete(check);
        reject(
          new PlatformUnreachable(`No acknowledgement from the platform at ${this.options.target}`),
        );
      };
      this.#waiters.add(check);
      signal.addEventListener("abort", abort, { once: true });
      check();
      // Nothing is acknowledged before the call ends: end it now, or the next one at once.
      if (this.#acked < sequence) this.#requestRotation();
    });
  }

  /** Drops what the platform has up to `last`. */
  #acknowledge(last: number): void {
    if (last <= this.#acked) return;
    this.#acked = last;
    while (this.#unacked.length > 0 && this.#unacked[0]!.sequence <= last) {
      this.#unackedEvents -= this.#unacked.shift()!.events?.events.length ?? 0;
    }
    for (const check of [...this.#waiters]) check();
  }

  /** Keeps a call open, ending it every minute for the acknowledgement; reopens it when broken. */
  async #run(): Promise<void> {
    const o = this.options;
    const random = o.random ?? Math.random;
    const signal = this.#closing.signal;
    let failures = 0;
    let resume = false;
    const beats = setInterval(() => this.#beat(), o.heartbeatMs ?? 60_000);
    try {
      while (!signal.aborted) {
        let token: string | undefined;
        try {
          token = await o.token(signal);
          const { loaded, client } = await this.#connect();
          if (resume) this.#acknowledge(await this.#resume(loaded, client, token, signal));
          this.#acknowledge(await this.#publish(loaded, client, token, signal));
          resume = false;
          failures = 0;
        } catch (error) {
          if (signal.aborted) break;
          const code = (error as { code?: number }).code;
          if (code === UNAUTHENTICATED && token) o.invalidateToken(token);
          if (code === INVALID_ARGUMENT && this.#unacked.length > 0) {
            // The platform refuses a frame: sending it again would be refused again.
            const dropped = this.#unacked.shift()!;
            this.#unackedEvents -= dropped.events?.events.length ?? 0;
            o.log.warn("the platform refused a frame of the stream: dropped", {
              sequence: dropped.sequence,
              error: errorMessage(error),
            });
          }
          resume = true;
          failures++;
          // Equal jitter: never sooner than half the bound, so a dead platform is not hammered.
          const bound = Math.min(30_000, 500 * 2 ** (failures - 1));
          const delay = Math.round(bound / 2 + (bound / 2) * random());
          o.log.warn("the platform's stream broke; reopening it", {
            target: o.target,
            error: errorMessage(error).split("\n")[0],
            retryInMs: delay,
            unacknowledged: this.#unacked.length,
          });
          if (error instanceof PlatformRejected) await sleep(60_000, signal);
          await sleep(delay, signal);
        }
      }
    } finally {
      clearInterval(beats);
    }
  }

  #connect(): Promise<{ loaded: Loaded; client: Grpc.Client }> {
    this.#client ??= loadGrpc().then((loaded) => ({
      loaded,
      client: new loaded.grpc.Client(
        this.options.target,
        this.options.secure
          ? loaded.grpc.credentials.createSsl()
          : loaded.grpc.credentials.createInsecure(),
        { "grpc.initial_reconnect_backoff_ms": 500, "grpc.max_reconnect_backoff_ms": 30_000 },
      ),
    }));
    return this.#client;
  }

  #metadata(loaded: Loaded, token: string): Grpc.Metadata {
    const metadata = new loaded.grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    return metadata;
  }

  async #resume(
    loaded: Loaded,
    client: Grpc.Client,
    token: string,
    signal: AbortSignal,
  ): Promise<number> {
    const m = loaded.resume;
    return await new Promise<number>((resolve, reject) => {
      const call = client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        { session: this.session },
        this.#metadata(loaded, token),
        { deadline: Date.now() + 30_000 },
        (error, answer) => error ? reject(error) : resolve(Number(answer?.last_sequence ?? 0)),
      );
      signal.addEventListener("abort", () => call.cancel(), { once: true });
    });
  }

  /**
   * One Publish call: every unacknowledged frame first, then new ones as they come, until it
   * is time to end it; resolves with the platform's last stored sequence.
   */
  async #publish(
    loaded: Loaded,
    client: Grpc.Client,
    token: string,
    signal: AbortSignal,
  ): Promise<number> {
    const m = loaded.publish;
    let end = () => {};
    const answered = new Promise<number>((resolve, reject) => {
      const call = client.makeClientStreamRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        this.#metadata(loaded, token),
        {},
        (error, answer) => error ? reject(error) : resolve(Number(answer?.last_sequence ?? 0)),
      );
      for (const frame of this.#unacked) call.write(frame);
      this.#call = call;
      end = () => {
        if (this.#call !== call) return;
        this.#call = undefined;
        this.#rotate = undefined;
        this.#rotateWanted = false;
        call.end();
      };
      this.#rotate = end;
      signal.addEventListener("abort", end, { once: true });
      if (signal.aborted || this.#rotateWanted) end();
    });
    const timer = setTimeout(() => end(), this.options.heartbeatMs ?? 60_000);
    try {
      return await answered;
    } finally {
      clearTimeout(timer);
      this.#call = undefined;
      this.#rotate = undefined;
      signal.removeEventListener("abort", end);
    }
  }
}
