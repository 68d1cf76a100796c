import { generateKeyPairSync } from "node:crypto";
import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { PlatformEmulator } from "../../tests/support/platform.ts";
import { parseCredentials, type PlatformCredentials } from "./credentials.ts";
import {
  PlatformHttp,
  type PlatformHttpOptions,
  PlatformRejected,
  PlatformUnreachable,
} from "./http.ts";
import { signAssertion } from "./jwt.ts";

function keys(
  clientId = "agent-1",
): {
  credentials: PlatformCredentials;
  publicKey: ReturnType<typeof generateKeyPairSync>["publicKey"];
} {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  return {
    credentials: parseCredentials({ client_id: clientId, private_key: pem }, "test"),
    publicKey,
  };
}

async function withPlatform(
  fn: (
    platform: PlatformEmulator,
    client: (o?: Partial<PlatformHttpOptions>) => PlatformHttp,
  ) => Promise<void>,
  ttl?: number,
): Promise<void> {
  const platform = await PlatformEmulator.start({ tokenTtlSeconds: ttl });
  const { credentials, publicKey } = keys();
  platform.registerClient("agent-1", publicKey);
  try {
    await fn(platform, (o = {}) =>
      new PlatformHttp({
        url: platform.url,
        credentials: () => credentials,
        random: () => 0,
        ...o,
      }));
  } finally {
    await platform.close();
  }
}

const signal = () => AbortSignal.timeout(30_000);
const beat = JSON.stringify({ cluster_uid: "c" });

Deno.test("PlatformHttp gets a token with an assertion the platform verifies, and reuses it", () =>
  withPlatform(async (platform, client) => {
    let refreshes = 0;
    const http = client({ onTokenRefresh: () => refreshes++ });
    for (let i = 0; i < 3; i++) await http.post("/api/v1/agent/heartbeat", beat, signal());
    assertEquals(platform.heartbeats.length, 3);
    assertEquals(platform.tokenRequests.map((t) => t.ok), [true]);
    assertEquals(refreshes, 1);
  }));

Deno.test("PlatformHttp asks for one token however many requests wait for it", () =>
  withPlatform(async (platform, client) => {
    const http = client();
    platform.inject("/oauth/token", { delayMs: 100 });
    await Promise.all(
      Array.from({ length: 10 }, () => http.post("/api/v1/agent/heartbeat", beat, signal())),
    );
    assertEquals(platform.tokenRequests.length, 1);
    assertEquals(platform.heartbeats.length, 10);
  }));

Deno.test("PlatformHttp refreshes the token before it expires, with a new jti", () =>
  withPlatform(async (platform, client) => {
    let offset = 0;
    const http = client({ now: () => Date.now() + offset });
    await http.post("/api/v1/agent/heartbeat", beat, signal());
    offset = 8_500; // past four fifths of the token's 10 s life, before its end
    await http.post("/api/v1/agent/heartbeat", beat, signal());
    assertEquals(platform.tokenRequests.map((t) => t.ok), [true, true]);
    assert(platform.tokenRequests[0]!.jti !== platform.tokenRequests[1]!.jti);
    assertEquals(platform.unauthorized, 0);
  }, 10));

Deno.test("PlatformHttp answers a 401 with a new token and one more try", () =>
  withPlatform(async (platform, client) => {
    const http = client();
    await http.post("/api/v1/agent/heartbeat", beat, signal());
    platform.revokeTokens();
    await http.post("/api/v1/agent/heartbeat", beat, signal());
    assertEquals(
      [platform.unauthorized, platform.tokenRequests.length, platform.heartbeats.length],
      [1, 2, 2],
    );
    platform.inject("/api/v1/agent/heartbeat", { status: 401 }, { status: 401 });
    await assertRejects(
      () => http.post("/api/v1/agent/heartbeat", beat, signal()),
      PlatformRejected,
      "401",
    );
  }));

Deno.test("PlatformHttp does not retry other 4xx answers", () =>
  withPlatform(async (platform, client) => {
    let retries = 0;
    const http = client({ onRetry: () => retries++ });
    platform.inject("/api/v1/agent/heartbeat", { status: 422, body: '{"error":"bad payload"}' });
    const error = await assertRejects(
      () => http.post("/api/v1/agent/heartbeat", beat, signal()),
      PlatformRejected,
    );
    assertEquals(
      error.message,
      'Platform refused POST /api/v1/agent/heartbeat: 422 {"error":"bad payload"}',
    );
    assertEquals([retries, platform.rawBodies.length], [0, 2]); // the token request and one POST
  }));

Deno.test("PlatformHttp retries 5xx, 429 and slow answers, at most 5 times", () =>
  withPlatform(async (platform, client) => {
    const reasons: string[] = [];
    const http = client({ timeoutMs: 300, onRetry: (_path, reason) => reasons.push(reason) });
    platform.inject(
      "/api/v1/agent/heartbeat",
      { status: 503 },
      { status: 429 },
      { delayMs: 2000 },
      { status: 500 },
    );
    await http.post("/api/v1/agent/heartbeat", beat, signal());
    assertEquals(platform.heartbeats.length, 1);
    assertEquals(reasons, [
      'POST /api/v1/agent/heartbeat: 503 {"error":"injected"}',
      'POST /api/v1/agent/heartbeat: 429 {"error":"injected"}',
      "no answer within 0.3 s",
      'POST /api/v1/agent/heartbeat: 500 {"error":"injected"}',
    ]);
    platform.inject(
      "/api/v1/agent/heartbeat",
      ...Array.from({ length: 6 }, () => ({ status: 502 })),
    );
    const error = await assertRejects(
      () => http.post("/api/v1/agent/heartbeat", beat, signal()),
      PlatformUnreachable,
    );
    assert(error.message.endsWith("(after 6 tries)"), error.message);
    assertEquals(reasons.length, 4 + 5);
  }));

Deno.test("PlatformHttp retries requests whose connection was dropped", () =>
  withPlatform(async (platform, client) => {
    const reasons: string[] = [];
    const http = client({ onRetry: (_path, reason) => reasons.push(reason) });
    await http.post("/api/v1/agent/heartbeat", beat, signal());
    // Deno's client itself resends a request once when a pooled connection closes under it;
    // the drops after that reach the agent's retries.
    platform.inject("/api/v1/agent/heartbeat", { drop: true }, { drop: true }, { drop: true });
    await http.post("/api/v1/agent/heartbeat", beat, signal());
    assertEquals(platform.heartbeats.length, 2);
    assert(reasons.length >= 1 && reasons.length <= 3, reasons.join("\n"));
    assert(reasons.every((r) => r === "connection closed before an answer"), reasons.join("\n"));
  }));

Deno.test("PlatformHttp retries a failing token endpoint and reports a refused assertion", () =>
  withPlatform(async (platform, client) => {
    platform.inject("/oauth/token", { status: 500 }, { drop: true });
    await client().post("/api/v1/agent/heartbeat", beat, signal());
    assertEquals(platform.heartbeats.length, 1);
    const stranger = keys("stranger").credentials;
    const error = await assertRejects(
      () => client({ credentials: () => stranger }).post("/api/v1/agent/heartbeat", beat, signal()),
      PlatformRejected,
    );
    assert(
      error.message.includes("token request: 400") && error.message.includes("unknown client"),
      error.message,
    );
  }));

Deno.test("the platform emulator refuses forged, expired, misaddressed and replayed assertions", () =>
  withPlatform(async (platform) => {
    const own = keys();
    platform.registerClient("agent-2", own.publicKey);
    const ask = async (assertion: string) => {
      const response = await fetch(`${platform.url}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
          assertion,
        }),
      });
      return [response.status, (await response.json()).error_description ?? "ok"] as const;
    };
    const other = keys("agent-2").credentials; // agent-2's id, another key
    assertEquals((await ask(signAssertion(other, platform.url, Date.now())))[0], 400);
    const good = keys("agent-2");
    platform.registerClient("agent-2", good.publicKey);
    const valid = signAssertion(good.credentials, platform.url, Date.now());
    assertEquals(await ask(valid), [200, "ok"]);
    assertEquals((await ask(valid))[1].includes("reused"), true);
    const expired = await ask(signAssertion(good.credentials, platform.url, Date.now() - 600_000));
    assert(expired[1].includes("exp"), expired[1]);
    const elsewhere = await ask(signAssertion(good.credentials, "http://elsewhere", Date.now()));
    assert(elsewhere[1].includes("aud"), elsewhere[1]);
    const tampered = valid.slice(0, -4) + (valid.endsWith("AAAA") ? "BBBB" : "AAAA");
    assertEquals((await ask(tampered))[0], 400);
  }));
