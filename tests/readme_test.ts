/**
 * Keeps README.md true: every configuration key, every command and every exit code the
 * CLI has is documented.
 */
import { assert, assertStringIncludes } from "./support/assert.ts";
import { runAgent } from "./support/cli.ts";
import { configKeys, envName } from "../lib/config/mod.ts";

const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));

Deno.test("README documents every configuration key with its environment variable", () => {
  for (const [key] of configKeys()) {
    const row = new RegExp(
      `^\\| \`${key.replaceAll(".", "\\.")}\` +\\|.*\\| \`${envName(key)}\` +\\|$`,
      "m",
    );
    assert(row.test(readme), `README lacks a row for ${key}`);
  }
});

Deno.test("README documents every command in --help", async () => {
  const help = await runAgent(["--help"]);
  const section = help.stdout.split("Commands:\n")[1]!.split("\n\n")[0]!;
  const commands = [...section.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) =>
    c !== "help"
  );
  assert(commands.length >= 3, help.stdout);
  for (const command of commands) assertStringIncludes(readme, `### \`agent ${command}`);
  assertStringIncludes(readme, "npx -y deno@2.9.6 task demo");
  assertStringIncludes(readme, "npx -y deno@2.9.6 task test");
});
