/**
 * The agent's memory figures hold for the V8 flags it is run with (docs/deployment.md): a 1
 * MiB young generation, an old generation limit of 1.5 times its live size, and optimizing
 * compilation on the main thread. Every way of running it (`deno task start`, the compiled
 * binaries, the installed launcher, the image) passes the same flags (the benchmarks read them
 * from `deno task start`), and this Deno accepts them.
 */
import { assertEquals } from "./support/assert.ts";

const ROOT = new URL("../", import.meta.url);
const FLAGS = "--max-semi-space-size=1,--heap-growing-percent=50,--no-concurrent-recompilation";

/** Where the agent is started, with how many times each names the flags. */
const LAUNCHERS: Record<string, number> = {
  "deno.json": 2,
  "Dockerfile": 1,
  ".github/workflows/release.yml": 1,
  "scripts/install.ts": 1,
  "scripts/build_image.ts": 1,
  "docs/deployment.md": 2,
};

Deno.test("every launcher runs the agent with the same V8 flags", () => {
  for (const [file, count] of Object.entries(LAUNCHERS)) {
    const text = Deno.readTextFileSync(new URL(file, ROOT));
    // The benchmark tasks' `--expose-gc` is the benchmark's, not the agent's.
    const found = [...text.matchAll(/(?:--v8-flags=|DENO_V8_FLAGS=)([^\s"'`]+)/g)]
      .map((m) => m[1]).filter((flags) => flags !== "--expose-gc");
    assertEquals(found, Array(count).fill(FLAGS), file);
  }
});

Deno.test("this Deno accepts the agent's V8 flags", async () => {
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `--v8-flags=${FLAGS}`, "console.log('ok')"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(run.stderr);
  assertEquals([run.code, new TextDecoder().decode(run.stdout), stderr], [0, "ok\n", ""]);
});
