import { generateKeyPairSync } from "node:crypto";
import { assert, assertEquals, assertRejects, withTempDir } from "../../tests/support/assert.ts";
import { ConfigError } from "../errors.ts";
import { credentialsFromSecret, parseCredentials, readCredentialsFile } from "./credentials.ts";

function ecPem(type: "pkcs8" | "sec1" = "pkcs8"): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return privateKey.export({ format: "pem", type }) as string;
}

Deno.test("parseCredentials() takes a P-256 key in PKCS#8 or SEC1 PEM", () => {
  for (const type of ["pkcs8", "sec1"] as const) {
    const credentials = parseCredentials({ client_id: " agent-1 ", private_key: ecPem(type) }, "x");
    assertEquals(credentials.clientId, "agent-1");
    assertEquals(credentials.thumbprint.length, 43);
  }
});

Deno.test("PlatformCredentials never shows its key", () => {
  const pem = ecPem();
  const credentials = parseCredentials({ client_id: "agent-1", private_key: pem }, "x");
  const body = pem.split("\n")[1]!;
  for (
    const shown of [JSON.stringify(credentials), Deno.inspect(credentials), String(credentials)]
  ) {
    assert(!shown.includes(body), shown);
    assert(!shown.includes("BEGIN"), shown);
  }
  assert(JSON.stringify(credentials).includes("[redacted]"));
});

Deno.test("parseCredentials() refuses bad fields without quoting the key", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey
    .export({ format: "pem", type: "pkcs8" }) as string;
  const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey
    .export({ format: "pem", type: "pkcs8" }) as string;
  const cases: [Record<string, unknown>, string][] = [
    [{ private_key: ecPem() }, "client_id: expected a non-empty string"],
    [{ client_id: "a\nb", private_key: ecPem() }, "client_id: expected at most 256 printable"],
    [{ client_id: "a" }, "private_key: expected a PEM private key"],
    [{
      client_id: "a",
      private_key: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    }, "private_key: not a readable private key"],
    [{ client_id: "a", private_key: rsa }, "expected an ECDSA P-256 key for ES256, got rsa"],
    [{ client_id: "a", private_key: p384 }, "got ec secp384r1"],
  ];
  for (const [fields, reason] of cases) {
    try {
      parseCredentials(fields, "ns/creds");
      throw new Error(`accepted ${JSON.stringify(fields)}`);
    } catch (error) {
      assert(error instanceof ConfigError, String(error));
      assert(error.message.startsWith('Invalid platform credentials "ns/creds": '), error.message);
      assert(error.message.includes(reason), error.message);
      assert(!error.message.includes("AAAA") && !error.message.includes("MIG"), error.message);
    }
  }
});

Deno.test("readCredentialsFile() reads YAML and JSON, and refuses what is not", async () => {
  await withTempDir(async (dir) => {
    const pem = ecPem();
    await Deno.writeTextFile(`${dir}/c.json`, JSON.stringify({ client_id: "j", private_key: pem }));
    assertEquals((await readCredentialsFile(`${dir}/c.json`)).clientId, "j");
    await Deno.writeTextFile(
      `${dir}/c.yaml`,
      `client_id: y\nprivate_key: |\n${pem.split("\n").map((l) => `  ${l}`).join("\n")}`,
    );
    assertEquals((await readCredentialsFile(`${dir}/c.yaml`)).clientId, "y");
    await Deno.writeTextFile(`${dir}/bad.yaml`, `client_id: [\n${pem}`);
    const error = await assertRejects(() => readCredentialsFile(`${dir}/bad.yaml`), ConfigError);
    assertEquals(error.message, `Invalid platform credentials "${dir}/bad.yaml": not YAML or JSON`);
    await assertRejects(
      () => readCredentialsFile(`${dir}/none`),
      ConfigError,
      "Cannot read platform credentials",
    );
  });
});

Deno.test("credentialsFromSecret() decodes a Secret's base64 data", () => {
  const pem = ecPem();
  const credentials = credentialsFromSecret(
    { client_id: btoa("from-secret"), private_key: btoa(pem) },
    "agent-system/platform",
  );
  assertEquals(credentials.clientId, "from-secret");
  try {
    credentialsFromSecret({ client_id: btoa("x") }, "agent-system/platform");
    throw new Error("accepted");
  } catch (error) {
    assert(String(error).includes('"agent-system/platform": private_key'), String(error));
  }
});
