/**
 * A fake CRI runtime for the client's tests: grpc-js serving the agent's own `runtime.v1`
 * proto on a unix socket, each call answered by a handler (a value, a thrown gRPC error, or a
 * promise that never settles), plus small helpers those tests share.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type * as Grpc from "@grpc/grpc-js";
import {
  CRI_IMAGE_SERVICE,
  CRI_LOADER_OPTIONS,
  CRI_PROTO,
  CRI_SERVICE,
} from "../../lib/cri/_cri_proto.ts";
import { loadService } from "./containerd.ts";

export type Method =
  | "Version"
  | "ListPodSandbox"
  | "PodSandboxStatus"
  | "ListContainers"
  | "ListImages";

/** Answers one call: a value, a thrown `{ code, details }`, or a promise that never settles. */
export type Handler = (request: Record<string, unknown>) => unknown;

export interface FakeCri {
  socket: string;
  calls: Record<Method, number>;
  /** Starts serving (again) on the same socket. */
  start(): Promise<void>;
  /** Stops serving, dropping calls in flight; the socket path stays reserved. */
  stop(): Promise<void>;
  /** Stops and removes the directory. */
  close(): Promise<void>;
}

export async function fakeCri(
  handlers: Partial<Record<Method, Handler>>,
  options: { serialize?: Partial<Record<Method, (value: unknown) => Buffer>> } = {},
): Promise<FakeCri> {
  const { grpc, service } = await loadService(CRI_PROTO, CRI_SERVICE, CRI_LOADER_OPTIONS);
  const images = await loadService(CRI_PROTO, CRI_IMAGE_SERVICE, CRI_LOADER_OPTIONS);
  const dir = await Deno.makeTempDir({ prefix: "agent-fake-cri-" });
  const socket = `${dir}/cri.sock`;
  const calls: Record<Method, number> = {
    Version: 0,
    ListPodSandbox: 0,
    PodSandboxStatus: 0,
    ListContainers: 0,
    ListImages: 0,
  };
  const definition: Record<string, Grpc.MethodDefinition<unknown, unknown>> = { ...service };
  const imageDefinition: Grpc.ServiceDefinition = { ...images.service };
  for (const [method, serialize] of Object.entries(options.serialize ?? {})) {
    definition[method] = { ...definition[method]!, responseSerialize: serialize };
  }
  const implementation: Grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    implementation[method] = ((
      call: Grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: Grpc.sendUnaryData<unknown>,
    ) => {
      calls[method as Method]++;
      Promise.resolve().then(() => handler(call.request)).then(
        (value) => callback(null, value),
        (error) => callback(error),
      );
    }) as Grpc.UntypedHandleCall;
  }
  let server: Grpc.Server | undefined;
  const stop = async () => {
    if (!server) return;
    const stopping = server;
    server = undefined;
    stopping.forceShutdown();
    await Deno.remove(socket).catch(() => {});
  };
  const start = async () => {
    server = new grpc.Server();
    server.addService(definition, implementation);
    // The image service on the same socket, as containerd and CRI-O serve it.
    server.addService(imageDefinition, implementation);
    await new Promise<void>((resolve, reject) =>
      server!.bindAsync(
        `unix://${socket}`,
        grpc.ServerCredentials.createInsecure(),
        (error) => error ? reject(error) : resolve(),
      )
    );
  };
  await start();
  return {
    socket,
    calls,
    start,
    stop,
    async close() {
      await stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

export function grpcError(
  code: number,
  details: string,
): Error & { code: number; details: string } {
  return Object.assign(new Error(details), { code, details });
}

export function sandbox(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    metadata: { name: `pod-${id}`, uid: `uid-${id}`, namespace: "default", attempt: 0 },
    state: "SANDBOX_READY",
    createdAt: "1700000000123456789",
    labels: { app: "demo" },
    annotations: {},
    runtimeHandler: "kata",
    ...extra,
  };
}

export interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

export function recordingLogger(
  lines: LogLine[],
): Record<"debug" | "info" | "warn", (message: string, fields?: Record<string, unknown>) => void> {
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push({ level, message, fields });
  return { debug: log("debug"), info: log("info"), warn: log("warn") };
}

export async function until(
  what: string,
  condition: () => boolean,
  timeoutMs = 30_000,
): Promise<number> {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - started;
}

export const delay = (ms: number): Promise<unknown> =>
  new Promise((resolve) => setTimeout(resolve, ms));
