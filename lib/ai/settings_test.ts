import { assert, assertEquals, assertRejects, withTempDir } from "../../tests/support/assert.ts";
import { loadConfig } from "../config/mod.ts";
import { ConfigError } from "../errors.ts";
import { aiSettings, requestUrl } from "./settings.ts";

Deno.test("requestUrl() appends each provider's path, Azure's deployment and api-version", () => {
  assertEquals(
    requestUrl("openai", "https://api.openai.com/v1/", "gpt-4o", "x"),
    "https://api.openai.com/v1/chat/completions",
  );
  assertEquals(
    requestUrl("openai", "http://127.0.0.1:11434/v1", "llama3:8b", "x"),
    "http://127.0.0.1:11434/v1/chat/completions",
  );
  assertEquals(
    requestUrl("anthropic", "https://api.anthropic.com/v1", "claude", "x"),
    "https://api.anthropic.com/v1/messages",
  );
  assertEquals(
    requestUrl("azure", "https://res.openai.azure.com", "gpt4o prod", "2024-10-21"),
    "https://res.openai.azure.com/openai/deployments/gpt4o%20prod/chat/completions?api-version=2024-10-21",
  );
  assertEquals(
    requestUrl("azure", "https://res.openai.azure.com/openai/deployments/d1", "ignored", "v"),
    "https://res.openai.azure.com/openai/deployments/d1/chat/completions?api-version=v",
  );
});

async function config(ai: Record<string, unknown>) {
  const flags = Object.fromEntries(Object.entries(ai).map(([k, v]) => [`ai.${k}`, v]));
  return await loadConfig({ env: () => undefined, flags });
}

Deno.test("aiSettings() names every missing setting in one line", async () => {
  const error = await assertRejects(
    async () => await aiSettings(await config({ provider: "azure" })),
    ConfigError,
  );
  assert(!error.message.includes("\n"), error.message);
  for (const part of ["ai.model", "ai.endpoint"]) {
    assert(error.message.includes(part), error.message);
  }
});

Deno.test("aiSettings() refuses a model without a price: the monthly limit could not be kept", async () => {
  const error = await assertRejects(
    async () => await aiSettings(await config({ model: "gpt-4o" })),
    ConfigError,
  );
  assert(error.message.includes('ai.prices: no price for model "gpt-4o"'), error.message);
});

Deno.test("aiSettings() reads the key from the variable ai.apiKeyEnv names, never shows it", async () => {
  const settings = await aiSettings(
    await config({ model: "m", prices: ["m=1/2"], apiKeyEnv: "MY_KEY" }),
    { env: (name) => name === "MY_KEY" ? "sk-secret-123" : undefined },
  );
  assertEquals(settings.url, "https://api.openai.com/v1/chat/completions");
  assertEquals(settings.headers().authorization, "Bearer sk-secret-123");
  assert(!JSON.stringify(settings).includes("sk-secret-123"));
  assert(!String(settings).includes("sk-secret-123"));
  assertEquals(settings.minScore, 7);
  assertEquals(settings.price, { input: 1, output: 2 });
});

Deno.test("aiSettings() reads the key from ai.apiKeyFile, which wins over the variable", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/key`, "sk-from-file\n");
    const settings = await aiSettings(
      await config({
        provider: "anthropic",
        model: "c",
        prices: ["c=3/15"],
        apiKeyFile: `${dir}/key`,
      }),
      { env: () => "sk-from-env" },
    );
    assertEquals(settings.headers()["x-api-key"], "sk-from-file");
    assertEquals(settings.headers()["anthropic-version"], "2023-06-01");
    const azure = await aiSettings(
      await config({
        provider: "azure",
        endpoint: "https://r.openai.azure.com",
        model: "d",
        prices: ["d=1/1"],
        apiKeyFile: `${dir}/key`,
      }),
    );
    assertEquals(azure.headers()["api-key"], "sk-from-file");
    assertEquals(azure.headers().authorization, undefined);
    for (
      const [file, reason] of [
        [`${dir}/missing`, "no such file"],
        [dir, "not a regular file"],
      ] as const
    ) {
      const error = await assertRejects(
        async () =>
          await aiSettings(await config({ model: "c", prices: ["c=0/0"], apiKeyFile: file })),
        ConfigError,
      );
      assertEquals(error.message, `Cannot read the API key file "${file}": ${reason}`);
    }
    await Deno.writeTextFile(`${dir}/two`, "a\nb\n");
    const error = await assertRejects(
      async () =>
        await aiSettings(await config({ model: "c", prices: ["c=0/0"], apiKeyFile: `${dir}/two` })),
      ConfigError,
    );
    assertEquals(error.message, `Cannot use the API key file "${dir}/two": expected one line`);
  }));

Deno.test("aiSettings() sends no credential when there is no key (a server of your own)", async () => {
  const settings = await aiSettings(
    await config({ endpoint: "http://127.0.0.1:8000/v1", model: "m", prices: ["m=0/0"] }),
    { env: () => undefined },
  );
  assertEquals(settings.hasKey, false);
  assertEquals(settings.headers().authorization, undefined);
});

Deno.test("the configuration refuses an API key written in the file: there is no such key", async () => {
  const error = await assertRejects(
    () => loadConfig({ env: () => undefined, flags: { "ai.apiKey": "sk-plain-text" } }),
    ConfigError,
  );
  assert(error.message.includes("ai.apiKey: unknown key"), error.message);
  assert(!error.message.includes("sk-plain-text"), error.message);
});
