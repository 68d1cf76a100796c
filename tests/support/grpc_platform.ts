/**
 * The platform's streaming side for tests: a real `@grpc/grpc-js` server of the service in
 * `lib/platform/_proto.ts`, run by Node.js (`grpc_platform_server.mjs`; Deno's own http2
 * server loses half-closes under this load). It checks each call's bearer token with the
 * HTTP platform emulator's introspection endpoint, stores the frames of each session in
 * order, answers `Publish` with the last sequence stored and `Resume` likewise, and reports
 * what would betray a lost or repeated frame: a sequence that skips ahead (a gap) or one
 * received again after it was stored (a duplicate). Faults: break a call after some frames
 * (UNAVAILABLE), stop and start again on the same port. The npm packages come from Deno's
 * cache, at the versions of the project's `deno.json`, into a `node_modules` made once.
 *
 * @module
 */
import { STREAM_PROTO, STREAM_SERVICE } from "../../lib/platform/_proto.ts";
import { haveCommand, skipNotice } from "./cores.ts";
import { Conditions } from "./net.ts";

/** Why the gRPC tests cannot run here, if they cannot (no Node.js). */
export const noNode: boolean = skipNotice("node", haveCommand("node"));

/** A frame as the server stored it (bytes fields as text). */
export interface ReceivedFrame {
  session: string;
  sequence: number;
  cluster_uid: string;
  snapshot?: { snapshot_id: string; index: number; last: boolean; json: string };
  events?: { events: ReceivedEvent[] };
  heartbeat?: Record<string, unknown>;
}

/** An event as the server stored it. */
export interface ReceivedEvent {
  type: string;
  kind: string;
  uid: string;
  name: string;
  namespace: string;
  /** The object as JSON text. */
  object_json: string;
}

const ROOT = new URL("../../", import.meta.url).pathname;
let modules: Promise<string> | undefined;

/** A directory whose `node_modules` holds the gRPC packages, made once per machine. */
function nodeModules(): Promise<string> {
  modules ??= (async () => {
    const imports = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).imports as Record<
      string,
      string
    >;
    const version = (name: string) => imports[name]!.replace(`npm:${name}@`, "");
    const dependencies = Object.fromEntries(
      ["@grpc/grpc-js", "@grpc/proto-loader", "protobufjs"].map((n) => [n, version(n)]),
    );
    const key = Object.values(dependencies).join("-");
    const dir = `/tmp/agent-tests-node-grpc-${key}`;
    try {
      await Deno.stat(`${dir}/node_modules/@grpc/grpc-js/package.json`);
      return dir;
    } catch {
      // Not made yet.
    }
    const work = await Deno.makeTempDir({ prefix: "agent-node-grpc-" });
    await Deno.writeTextFile(
      `${work}/package.json`,
      JSON.stringify({ private: true, dependencies }),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["install", "-q"],
      cwd: work,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`deno install for Node.js failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    try {
      await Deno.rename(work, dir);
    } catch {
      // Another test process made it first.
      await Deno.remove(work, { recursive: true });
    }
    return dir;
  })();
  return modules;
}

/** A running stream server. */
export class GrpcPlatform {
  /** Frames stored, in order. */
  readonly frames: ReceivedFrame[] = [];
  duplicates = 0;
  gaps = 0;
  unauthenticated = 0;
  /** Publish calls answered (each an acknowledgement). */
  acks = 0;
  #port = 0;
  readonly #conditions = new Conditions();
  #listening: (() => void) | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reading: Promise<void>;

  private constructor(private readonly child: Deno.ChildProcess) {
    this.#writer = child.stdin.getWriter();
    this.#reading = this.#read();
  }

  /** Starts a server on 127.0.0.1; `introspectUrl` says whether a bearer token is good. */
  static async start(introspectUrl: string): Promise<GrpcPlatform> {
    const dir = await nodeModules();
    // Node resolves an ES module's packages from where the module is: beside node_modules.
    const script = `${dir}/server-${crypto.randomUUID()}.mjs`;
    await Deno.copyFile(`${ROOT}tests/support/grpc_platform_server.mjs`, script);
    await Deno.writeTextFile(`${script}.proto`, STREAM_PROTO);
    const child = new Deno.Command("node", {
      args: [script, `${script}.proto`, introspectUrl, STREAM_SERVICE],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const platform = new GrpcPlatform(child);
    const exited = child.status.then((s) => {
      throw new Error(`the gRPC test server exited with code ${s.code}`);
    });
    try {
      await Promise.race([platform.#untilListening(), exited]);
    } finally {
      exited.catch(() => {});
      await Deno.remove(script).catch(() => {});
      await Deno.remove(`${script}.proto`).catch(() => {});
    }
    return platform;
  }

  /** `host:port` to dial. */
  get target(): string {
    return `127.0.0.1:${this.#port}`;
  }

  /** Breaks the current or next call after it has delivered `frames` more frames. */
  async breakAfter(frames: number): Promise<void> {
    await this.#send({ breakAfter: frames });
  }

  /** Every event stored, in order. */
  get events(): ReceivedEvent[] {
    return this.frames.flatMap((f) => f.events?.events ?? []);
  }

  /** The snapshot documents stored, parsed. */
  snapshots(): Record<string, unknown>[] {
    const byId = new Map<string, string[]>();
    const done: string[] = [];
    for (const f of this.frames) {
      if (!f.snapshot) continue;
      const parts = byId.get(f.snapshot.snapshot_id) ?? [];
      parts[f.snapshot.index] = f.snapshot.json;
      byId.set(f.snapshot.snapshot_id, parts);
      if (f.snapshot.last) done.push(f.snapshot.snapshot_id);
    }
    return done.map((id) => JSON.parse(byId.get(id)!.join("")));
  }

  /** Resolves once `test()` holds, checked after everything the peer hears. */
  waitUntil(test: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return this.#conditions.waitUntil(test, what, timeoutMs);
  }

  /** Stops serving (connections dropped), keeping what was stored. */
  async stop(): Promise<void> {
    let stopped = false;
    const done = this.waitUntil(() => stopped, "the server to stop");
    this.#onStopped = () => (stopped = true);
    await this.#send({ stop: true });
    await done;
  }

  #onStopped = () => {};

  /** Serves again on the same port. */
  async restart(): Promise<void> {
    await this.#send({ restart: true });
    await this.#untilListening();
  }

  /** Stops for good and waits for Node.js to exit. */
  async close(): Promise<void> {
    await this.#send({ exit: true }).catch(() => {});
    await this.#writer.close().catch(() => {});
    await this.child.status;
    await this.#reading;
  }

  #untilListening(): Promise<void> {
    return new Promise((resolve) => (this.#listening = resolve));
  }

  async #send(command: Record<string, unknown>): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(command) + "\n"));
  }

  async #read(): Promise<void> {
    let partial = "";
    for await (const text of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines) {
        if (!line) continue;
        const message = JSON.parse(line);
        if (message.listening) {
          this.#port = message.listening;
          this.#listening?.();
        }
        if (message.frame) this.frames.push(decodeFrame(message.frame));
        if (message.duplicate !== undefined) this.duplicates++;
        if (message.gap !== undefined) this.gaps++;
        if (message.unauthenticated) this.unauthenticated++;
        if (message.ack !== undefined) this.acks++;
        if (message.stopped) this.#onStopped();
      }
      this.#conditions.notify();
    }
  }
}

/** Bytes fields arrive base64: the frame with them as text. */
function decodeFrame(frame: ReceivedFrame): ReceivedFrame {
  const text = (b64: string) =>
    new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  if (frame.snapshot) frame.snapshot.json = text(frame.snapshot.json);
  for (const e of frame.events?.events ?? []) e.object_json = text(e.object_json);
  return frame;
}
