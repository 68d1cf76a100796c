/**
 * The agent's platform credentials: a client id and an ECDSA P-256 private key (PEM), from a
 * Kubernetes Secret read at run time or, outside a cluster, a local YAML or JSON file. The
 * key is imported once into a `KeyObject` (native memory, not a JS string) and the PEM text is
 * dropped; the credentials never show the key in a log line, a message or `JSON.stringify`.
 *
 * @module
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { ConfigError, errorMessage } from "../errors.ts";
import type { KubeObject } from "../kube/mod.ts";

/** What a file or Secret holds, before it is checked. */
export interface CredentialFields {
  client_id?: unknown;
  private_key?: unknown;
}

/** Checked credentials. */
export class PlatformCredentials {
  /** The public key's SHA-256 thumbprint (RFC 7638), to tell keys apart in logs. */
  readonly thumbprint: string;

  /** Wraps a checked client id and key; use {@linkcode parseCredentials}. */
  constructor(readonly clientId: string, readonly key: KeyObject) {
    const jwk = createPublicKey(key).export({ format: "jwk" });
    const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
    this.thumbprint = createHash("sha256").update(canonical).digest("base64url");
  }

  /** What `JSON.stringify` shows: never the key. */
  toJSON(): Record<string, string> {
    return { clientId: this.clientId, privateKey: "[redacted]", thumbprint: this.thumbprint };
  }

  /** What `Deno.inspect` and `console.log` show: never the key. */
  [Symbol.for("Deno.customInspect")](): string {
    return `PlatformCredentials { clientId: ${
      JSON.stringify(this.clientId)
    }, privateKey: [redacted] }`;
  }
}

/**
 * Checks `fields` from `source` (a file or `namespace/name` of a Secret).
 *
 * @throws {ConfigError} naming the source and the field, never the key's text.
 *
 * @example Usage
 * ```ts ignore
 * const credentials = parseCredentials({ client_id: "agent-1", private_key: pem }, "creds.yaml");
 * ```
 */
export function parseCredentials(fields: CredentialFields, source: string): PlatformCredentials {
  const bad = (reason: string) =>
    new ConfigError(`Invalid platform credentials ${JSON.stringify(source)}: ${reason}`);
  const id = fields.client_id;
  if (typeof id !== "string" || id.trim() === "") {
    throw bad("client_id: expected a non-empty string");
  }
  // deno-lint-ignore no-control-regex
  if (id.length > 256 || /[\u0000-\u001f\u007f]/.test(id)) {
    throw bad("client_id: expected at most 256 printable characters");
  }
  const pem = fields.private_key;
  if (typeof pem !== "string" || !pem.includes("-----BEGIN")) {
    throw bad("private_key: expected a PEM private key");
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    // The library's message describes the parse failure, never the key's bytes.
    throw bad(`private_key: not a readable private key (${errorMessage(error).split("\n")[0]})`);
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw bad(
      `private_key: expected an ECDSA P-256 key for ES256, got ${key.asymmetricKeyType ?? "?"}${
        key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ""
      }`,
    );
  }
  return new PlatformCredentials(id.trim(), key);
}

/** The most a credentials file may hold: a client id and a PEM key are under 1 KiB. */
const MAX_FILE_BYTES = 64 * 1024;

/**
 * Reads credentials from a YAML or JSON file with `client_id` and `private_key`.
 *
 * @throws {ConfigError} when the file cannot be read or is not valid.
 */
export async function readCredentialsFile(path: string): Promise<PlatformCredentials> {
  let text: string;
  try {
    const file = await Deno.open(path);
    try {
      const buffer = new Uint8Array(MAX_FILE_BYTES + 1);
      let length = 0;
      for (;;) {
        const n = await file.read(buffer.subarray(length));
        if (n === null) break;
        length += n;
        if (length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
      }
      text = new TextDecoder().decode(buffer.subarray(0, length));
      buffer.fill(0);
    } finally {
      file.close();
    }
  } catch (error) {
    throw new ConfigError(
      `Cannot read platform credentials ${JSON.stringify(path)}: ${errorMessage(error)}`,
    );
  }
  const { parse } = await import("yaml");
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    // The parser's message quotes the text, which holds the key: say only where.
    throw new ConfigError(`Invalid platform credentials ${JSON.stringify(path)}: not YAML or JSON`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new ConfigError(
      `Invalid platform credentials ${JSON.stringify(path)}: expected a mapping`,
    );
  }
  return parseCredentials(doc as CredentialFields, path);
}

/**
 * Reads credentials from a Secret's `data` (base64 `client_id` and `private_key`).
 *
 * @throws {ConfigError} when a key is missing or not valid.
 */
export function credentialsFromSecret(
  data: Record<string, unknown> | undefined,
  source: string,
): PlatformCredentials {
  const decode = (value: unknown) => {
    if (typeof value !== "string") return undefined;
    try {
      return new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
    } catch {
      return undefined;
    }
  };
  return parseCredentials(
    { client_id: decode(data?.client_id), private_key: decode(data?.private_key) },
    source,
  );
}

/** What {@linkcode watchCredentialsSecret} reports: new credentials, or why there are none. */
export type CredentialsUpdate =
  | { credentials: PlatformCredentials }
  | { error: string };

/**
 * The Secret `namespace/name` as an informer over that one object: every version is parsed as
 * it arrives (the PEM text is dropped once the key is imported) and reported to `onUpdate`;
 * the informer caches only its metadata.
 */
export function credentialsSecretInformerOptions(
  namespace: string,
  name: string,
  onUpdate: (update: CredentialsUpdate) => void,
): {
  path: string;
  fieldSelector: string;
  transform(object: KubeObject): KubeObject;
  onEvent(type: string): void;
} {
  const source = `${namespace}/${name}`;
  let latest: CredentialsUpdate = { error: `Secret "${source}" not found` };
  return {
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
    fieldSelector: `metadata.name=${name}`,
    transform(object) {
      try {
        latest = {
          credentials: credentialsFromSecret(object.data as Record<string, unknown>, source),
        };
      } catch (error) {
        latest = { error: errorMessage(error) };
      }
      return { metadata: { ...object.metadata, annotations: undefined, managedFields: undefined } };
    },
    onEvent(type) {
      onUpdate(type === "DELETED" ? { error: `Secret "${source}" was deleted` } : latest);
    },
  };
}
