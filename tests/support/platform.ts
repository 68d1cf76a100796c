/**
 * A platform emulator for tests: the observability platform's HTTP API as the agent uses it.
 * `POST /oauth/token` takes the JWT-bearer grant (RFC 7523) and checks every assertion with
 * an implementation independent of the agent's (`jose`): the ES256 signature against the
 * client's registered public key, `iss` = `sub` = the client id, `aud` = this platform's URL,
 * `exp` in the future and at most five minutes after `iat`, and a `jti` never seen before.
 * It issues tokens that expire, checks them on `POST /api/v1/agent/{snapshot,events,
 * heartbeat}` (and answers `POST /oauth/introspect` for its gRPC side), records every payload
 * (and every raw body, for canary searches), and injects
 * faults: a status, a slow answer, a dropped connection, or an answer lost after the request
 * was recorded. Built on `node:http` so that a connection can be dropped mid-request.
 *
 * @module
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { decodeJwt, importJWK, type JWK, jwtVerify } from "jose";
import { clusterObjects } from "./kube/cluster_fixtures.ts";
import { Conditions } from "./net.ts";

/** What the emulator does with a request instead of answering normally. */
export type Fault =
  | { status: number; body?: string }
  | { delayMs: number }
  | { drop: true }
  | { lose: true };

/** A payload the platform accepted. */
export interface Received<T = unknown> {
  path: string;
  clientId: string;
  token: string;
  body: T;
  at: number;
}

/** One events batch as the agent sends it. */
export interface EventsBatch {
  cluster_uid: string;
  session: string;
  sequence: number;
  events: {
    type: string;
    kind: string;
    uid: string;
    name: string;
    namespace: string;
    object: unknown;
  }[];
}

/** Options of {@linkcode PlatformEmulator.start}. */
export interface PlatformEmulatorOptions {
  /** Lifetime of issued access tokens (default 3600 s). */
  tokenTtlSeconds?: number;
}

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** A running platform emulator. */
export class PlatformEmulator {
  readonly #clients = new Map<string, JWK>();
  readonly #tokens = new Map<string, { clientId: string; expiresAt: number }>();
  readonly #jtis = new Set<string>();
  readonly #faults = new Map<string, Fault[]>();
  readonly #conditions = new Conditions();
  /** Token requests: accepted (with the client) or refused (with the reason). */
  readonly tokenRequests: { ok: boolean; clientId?: string; reason?: string; jti?: string }[] = [];
  readonly snapshots: Received<Record<string, unknown>>[] = [];
  readonly batches: Received<EventsBatch>[] = [];
  readonly heartbeats: Received<Record<string, unknown>>[] = [];
  /** Every request body received, whatever happened to it. */
  readonly rawBodies: string[] = [];
  /** Requests refused for a missing, unknown or expired token. */
  unauthorized = 0;
  #tokenTtl: number;

  private constructor(
    readonly server: http.Server,
    readonly url: string,
    options: PlatformEmulatorOptions,
  ) {
    this.#tokenTtl = options.tokenTtlSeconds ?? 3600;
  }

  /** Starts an emulator on 127.0.0.1. */
  static async start(options: PlatformEmulatorOptions = {}): Promise<PlatformEmulator> {
    const started: { emulator?: PlatformEmulator } = {};
    const server = http.createServer((request, response) => {
      started.emulator!.#handle(request, response).catch((error) => {
        if (!response.headersSent) response.writeHead(500).end(String(error));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    started.emulator = new PlatformEmulator(server, `http://127.0.0.1:${port}`, options);
    return started.emulator;
  }

  /** Registers a client id and its public key (a KeyObject or a JWK). */
  registerClient(clientId: string, publicKey: KeyObject | JWK): void {
    const jwk = "export" in publicKey ? publicKey.export({ format: "jwk" }) as JWK : publicKey;
    this.#clients.set(clientId, jwk);
  }

  /** Sets the lifetime of tokens issued from now on. */
  set tokenTtlSeconds(seconds: number) {
    this.#tokenTtl = seconds;
  }

  /** Makes every issued token invalid (as a platform revoking them would). */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** Queues faults for the next requests to `path` (one fault per request, in order). */
  inject(path: string, ...faults: Fault[]): void {
    this.#faults.set(path, [...(this.#faults.get(path) ?? []), ...faults]);
  }

  /** Every event received, in order, flattened out of the batches. */
  get events(): EventsBatch["events"] {
    return this.batches.flatMap((b) => b.body.events);
  }

  /** Resolves once `test()` holds, checked after everything the peer hears. */
  waitUntil(test: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return this.#conditions.waitUntil(test, what, timeoutMs);
  }

  /** Stops the emulator, closing its connections. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const path = new URL(request.url ?? "/", this.url).pathname;
    const chunks: Uint8Array[] = [];
    for await (const chunk of request) chunks.push(chunk as Uint8Array);
    const text = new TextDecoder().decode(concat(chunks));
    this.rawBodies.push(text);
    const fault = this.#faults.get(path)?.shift();
    try {
      if (fault && "drop" in fault) {
        request.socket.destroy();
        return;
      }
      if (fault && "delayMs" in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault && "status" in fault) {
        if (!response.destroyed) {
          response.writeHead(fault.status, { "content-type": "application/json" }).end(
            fault.body ?? JSON.stringify({ error: "injected" }),
          );
        }
        return;
      }
      const [status, answer] = request.method !== "POST"
        ? [405, { error: "method_not_allowed" }]
        : path === "/oauth/token"
        ? await this.#token(request, text)
        : path === "/oauth/introspect"
        ? this.#introspect(text)
        : this.#api(path, request, text);
      if (fault && "lose" in fault) {
        request.socket.destroy();
        return;
      }
      if (!response.destroyed) {
        response.writeHead(status, { "content-type": "application/json" }).end(
          JSON.stringify(answer),
        );
      }
    } finally {
      this.#conditions.notify();
    }
  }

  /** The token endpoint: verifies the assertion, issues a token. */
  async #token(request: http.IncomingMessage, text: string): Promise<[number, unknown]> {
    const refuse = (reason: string, error = "invalid_grant", jti?: string): [number, unknown] => {
      this.tokenRequests.push({ ok: false, reason, jti });
      return [400, { error, error_description: reason }];
    };
    if (!(request.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) {
      return refuse("expected a form", "invalid_request");
    }
    const form = new URLSearchParams(text);
    if (form.get("grant_type") !== JWT_BEARER) {
      return refuse("unsupported grant", "unsupported_grant_type");
    }
    const assertion = form.get("assertion") ?? "";
    let unverified: ReturnType<typeof decodeJwt>;
    try {
      unverified = decodeJwt(assertion);
    } catch {
      return refuse("assertion is not a JWT");
    }
    const jwk = this.#clients.get(String(unverified.iss));
    if (!jwk) return refuse(`unknown client ${JSON.stringify(unverified.iss)}`, "invalid_client");
    let claims: Awaited<ReturnType<typeof jwtVerify>>["payload"];
    try {
      ({ payload: claims } = await jwtVerify(assertion, await importJWK(jwk, "ES256"), {
        algorithms: ["ES256"],
        issuer: String(unverified.iss),
        subject: String(unverified.iss),
        audience: this.url,
        requiredClaims: ["iss", "sub", "aud", "iat", "exp", "jti"],
      }));
    } catch (error) {
      return refuse(`assertion rejected: ${error instanceof Error ? error.message : error}`);
    }
    if (claims.exp! - claims.iat! > 300) return refuse("assertion lives longer than 5 minutes");
    if (claims.iat! > Date.now() / 1000 + 60) return refuse("assertion issued in the future");
    if (this.#jtis.has(claims.jti!)) {
      return refuse(`jti ${claims.jti} reused`, "invalid_grant", claims.jti);
    }
    this.#jtis.add(claims.jti!);
    const token = `tok-${crypto.randomUUID()}`;
    this.#tokens.set(token, {
      clientId: claims.iss!,
      expiresAt: Date.now() + this.#tokenTtl * 1000,
    });
    this.tokenRequests.push({ ok: true, clientId: claims.iss!, jti: claims.jti });
    return [200, { access_token: token, token_type: "Bearer", expires_in: this.#tokenTtl }];
  }

  /**
   * Token introspection (RFC 7662), for the platform's gRPC side: whether a token is one this
   * platform issued and has not expired.
   */
  #introspect(text: string): [number, unknown] {
    const token = new URLSearchParams(text).get("token") ?? "";
    const grant = this.#tokens.get(token);
    return grant && grant.expiresAt > Date.now()
      ? [200, { active: true, client_id: grant.clientId }]
      : [200, { active: false }];
  }

  /** The agent API: checks the token, records the payload. */
  #api(path: string, request: http.IncomingMessage, text: string): [number, unknown] {
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? "")?.[1] ?? "";
    const grant = this.#tokens.get(token);
    if (!grant || grant.expiresAt <= Date.now()) {
      this.unauthorized++;
      return [401, { error: "invalid_token" }];
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [400, { error: "invalid_json" }];
    }
    const received = { path, clientId: grant.clientId, token, body, at: Date.now() };
    switch (path) {
      case "/api/v1/agent/snapshot":
        this.snapshots.push(received as Received<Record<string, unknown>>);
        return [202, { accepted: true }];
      case "/api/v1/agent/events": {
        const batch = body as EventsBatch;
        // A batch seen before (its answer was lost) is acknowledged, not stored twice.
        const seen = this.batches.some((b) =>
          b.body.session === batch.session && b.body.sequence === batch.sequence
        );
        if (!seen) this.batches.push(received as Received<EventsBatch>);
        return [202, { accepted: batch.events?.length ?? 0, duplicate: seen }];
      }
      case "/api/v1/agent/heartbeat":
        this.heartbeats.push(received as Received<Record<string, unknown>>);
        return [200, { ok: true }];
      default:
        return [404, { error: "not_found" }];
    }
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** A fresh ECDSA P-256 key pair: the private key as PKCS#8 PEM, the public key to register. */
export function ecKeyPair(): { pem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { pem: privateKey.export({ format: "pem", type: "pkcs8" }) as string, publicKey };
}

/** The Secret the agent reads its platform credentials from. */
export function credentialsSecret(
  namespace: string,
  name: string,
  clientId: string,
  pem: string,
): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace },
    type: "Opaque",
    data: { client_id: btoa(clientId), private_key: btoa(pem) },
  };
}

/**
 * Readies `emu` and `platform` for a streaming daemon: the `agent-system` namespace, the
 * cluster of `clusterObjects()` (its Secret and ConfigMap holding `canary`), and the Secret
 * `agent-system/SECRET` with credentials the platform knows as `clientId`.
 */
export function seedStreaming(
  emu: { put(object: Record<string, unknown>): unknown },
  platform: PlatformEmulator,
  options: { clientId?: string; secret?: string; canary?: string } = {},
): void {
  const clientId = options.clientId ?? "agent-1";
  emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "agent-system" } });
  for (const object of clusterObjects(options.canary)) emu.put(object);
  const keys = ecKeyPair();
  platform.registerClient(clientId, keys.publicKey);
  emu.put(
    credentialsSecret("agent-system", options.secret ?? "platform-credentials", clientId, keys.pem),
  );
}
