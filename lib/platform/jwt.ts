/**
 * The OAuth2 JWT-bearer assertion (RFC 7523): a JWT signed ES256 with the agent's P-256 key,
 * `iss` = `sub` = the client id, `aud` = the platform URL, `iat`, `exp` five minutes later and
 * a fresh `jti`. Signed with `node:crypto` (`dsaEncoding: "ieee-p1363"` gives the 64-byte
 * R||S form JWS wants), never by hand.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { randomUUID, sign } from "node:crypto";
import type { PlatformCredentials } from "./credentials.ts";

/** How long an assertion is valid. */
export const ASSERTION_LIFETIME_S = 300;

const encoder = new TextEncoder();

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/**
 * Signs an assertion for `audience` at `nowMs`.
 *
 * @example Usage
 * ```ts ignore
 * const jwt = signAssertion(credentials, "https://platform.example.com", Date.now());
 * ```
 */
export function signAssertion(
  credentials: PlatformCredentials,
  audience: string,
  nowMs: number,
  jti: string = randomUUID(),
): string {
  const iat = Math.floor(nowMs / 1000);
  const header = base64url({ alg: "ES256", typ: "JWT", kid: credentials.thumbprint });
  const claims = base64url({
    iss: credentials.clientId,
    sub: credentials.clientId,
    aud: audience,
    iat,
    exp: iat + ASSERTION_LIFETIME_S,
    jti,
  });
  const input = `${header}.${claims}`;
  const signature = sign("sha256", encoder.encode(input), {
    key: credentials.key,
    dsaEncoding: "ieee-p1363",
  }).toString("base64url");
  return `${input}.${signature}`;
}
