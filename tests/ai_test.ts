/**
 * `agent analyze core --ai` and `agent ai usage` against the model API emulator: the
 * explanation after the analysis (text and JSON), once per crash group unless `--force`, the
 * limits from the state database, failures as exit code 3 with the analysis printed, bad
 * settings as exit code 2 before any analysis, and no secret of the crashed process in any
 * request: a canary in its environment, command line and memory.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { crash, haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import { ModelApiEmulator } from "./support/model_api.ts";
import type { CoreAnalysis } from "../lib/core/mod.ts";
import type { Explanation } from "../lib/ai/mod.ts";

const noGcc = skipNotice("gcc", haveGcc());
const KEY = "sk-emulated-0123456789";

/** Writes a configuration for the emulator and returns the agent's arguments before a command. */
async function configure(dir: string, emu: ModelApiEmulator, ai = ""): Promise<string[]> {
  await Deno.writeTextFile(
    `${dir}/agent.yaml`,
    `stateDir: ${dir}/state
analyzer: {useGdb: ${haveGdb()}}
ai:
  endpoint: ${emu.url}/v1
  model: gpt-emulated
  prices: ["gpt-emulated=2/8"]
${ai}`,
  );
  return ["--config", `${dir}/agent.yaml`];
}

async function withEmulator(fn: (emu: ModelApiEmulator, dir: string) => Promise<void>) {
  await withTempDir(async (dir) => {
    const emu = await ModelApiEmulator.start({ key: KEY });
    try {
      await fn(emu, dir);
    } finally {
      await emu.stop();
    }
  });
}

const env = { AGENT_AI_API_KEY: KEY };

Deno.test({
  name: "analyze core --ai prints the explanation, once per crash group unless --force",
  ignore: noGcc,
  fn: () =>
    withEmulator(async (emu, dir) => {
      const { segv } = await sampleCores();
      const config = await configure(dir, emu);
      const text = await runAgent([...config, "analyze", "core", segv.core, "--ai"], { env });
      assertEquals(text.code, 0, text.stderr);
      assertStringIncludes(text.stdout, "Crash     SIGSEGV");
      assertStringIncludes(text.stdout, "AI analysis (openai gpt-emulated, confidence 0.78;");
      assertStringIncludes(text.stdout, "Summary     The process read through a null pointer");
      assertStringIncludes(text.stdout, "Code suggestions:\n  segv.c:5: Guard the dereference");
      assertEquals(emu.requests.length, 1);
      assertEquals(emu.requests[0]!.headers.authorization, `Bearer ${KEY}`);
      // The key is in no output and no log line.
      assert(!text.stdout.includes(KEY) && !text.stderr.includes(KEY));

      const again = await runAgent(
        [...config, "analyze", "core", segv.core, "--ai", "-o", "json"],
        { env },
      );
      assertEquals(again.code, 0, again.stderr);
      const analysis = json<CoreAnalysis & { ai: Explanation }>(again);
      assertEquals(analysis.crashReason.startsWith("SIGSEGV"), true);
      assertEquals([analysis.ai.status, analysis.ai.usage.requests], ["cached", 0]);
      assertStringIncludes(analysis.ai.result!.summary, "null pointer");
      assertEquals(emu.requests.length, 1);

      const forced = await runAgent(
        [...config, "analyze", "core", segv.core, "--ai", "--force", "-o", "json"],
        { env },
      );
      assertEquals(json<{ ai: Explanation }>(forced).ai.status, "explained");
      assertEquals(emu.requests.length, 2);

      const usage = json<{ requests: number; cost: number; analyses: { ok: number } }>(
        await runAgent([...config, "ai", "usage", "-o", "json"]),
      );
      const billed = emu.usage();
      assertEquals(usage.requests, 2);
      assertEquals(usage.analyses.ok, 2);
      assertEquals(usage.cost, (billed.input * 2 + billed.output * 8) / 1e6);
      const usageText = await runAgent([...config, "ai", "usage"]);
      assertEquals(usageText.code, 0, usageText.stderr);
      assertStringIncludes(usageText.stdout, "Last hour  2 of 10 analyses (ai.maxAnalysisPerHour)");
    }),
});

Deno.test({
  name: "analyze core --ai skips with a reason when a limit is reached, exit code 0",
  ignore: noGcc,
  fn: () =>
    withEmulator(async (emu, dir) => {
      const { segv, abort } = await sampleCores();
      const config = await configure(dir, emu, "  maxAnalysisPerHour: 1\n  minScore: 0\n");
      assertEquals(
        (await runAgent([...config, "analyze", "core", segv.core, "--ai"], { env })).code,
        0,
      );
      const second = await runAgent([...config, "analyze", "core", abort.core, "--ai"], { env });
      assertEquals(second.code, 0, second.stderr);
      assertStringIncludes(
        second.stdout,
        "AI analysis skipped: ai.maxAnalysisPerHour (1) reached",
      );
      assertEquals(emu.requests.length, 1);
    }),
});

Deno.test({
  name: "analyze core --ai prints the analysis and exits 3 when the model API fails",
  ignore: noGcc,
  fn: () =>
    withEmulator(async (emu, dir) => {
      const { segv } = await sampleCores();
      emu.always({ kind: "nonjson" });
      const config = await configure(dir, emu);
      const run = await runAgent([...config, "analyze", "core", segv.core, "--ai"], { env });
      assertEquals(run.code, 3, run.stderr);
      assertStringIncludes(run.stdout, "Crash     SIGSEGV");
      assertStringIncludes(run.stdout, "AI analysis failed: the answer did not validate twice");
      assertEquals(emu.requests.length, 2);
      const refused = await runAgent([...config, "analyze", "core", segv.core, "--ai", "--force"], {
        env: { AGENT_AI_API_KEY: "sk-wrong" },
      });
      assertEquals(refused.code, 3);
      assertStringIncludes(
        refused.stdout,
        "AI analysis failed: the model API: 401 invalid api key",
      );
      assert(!refused.stdout.includes("sk-wrong") && !refused.stderr.includes("sk-wrong"));
    }),
});

Deno.test({
  name: "analyze core --ai refuses incomplete settings before analyzing, exit code 2",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const noPrice = await runAgent(["analyze", "core", segv.core, "--ai"], {
        env: { AGENT_STATE_DIR: `${dir}/state`, AGENT_AI_MODEL: "gpt-4o" },
      });
      assertEquals(noPrice.code, 2);
      assertEquals(
        noPrice.stderr,
        'Invalid configuration for AI analysis: ai.prices: no price for model "gpt-4o" (add "gpt-4o=INPUT/OUTPUT", per million tokens; 0/0 for a server of your own): without it ai.maxCostPerMonth cannot be kept\n',
      );
      assertEquals(noPrice.stdout, "");
      const force = await runAgent(["analyze", "core", segv.core, "--force"]);
      assertEquals([force.code, force.stderr], [2, "--force needs --ai\n"]);
      const badFile = await runAgent(["analyze", "core", segv.core, "--ai"], {
        env: {
          AGENT_STATE_DIR: `${dir}/state`,
          AGENT_AI_MODEL: "m",
          AGENT_AI_PRICES: "m=0/0",
          AGENT_AI_API_KEY_FILE: `${dir}/no-key`,
        },
      });
      assertEquals([badFile.code, badFile.stderr], [
        2,
        `Cannot read the API key file "${dir}/no-key": no such file\n`,
      ]);
    }),
});

Deno.test({
  name: "ai usage reads nothing and creates nothing without a state database",
  fn: () =>
    withTempDir(async (dir) => {
      const run = await runAgent(["ai", "usage", "-o", "json"], {
        env: { AGENT_STATE_DIR: `${dir}/state` },
      });
      assertEquals(run.code, 0, run.stderr);
      const usage = json<{ cost: number; requests: number; limits: { maxCostPerMonth: number } }>(
        run,
      );
      assertEquals([usage.cost, usage.requests, usage.limits.maxCostPerMonth], [0, 0, 10]);
      assertEquals(await Deno.stat(`${dir}/state`).then(() => true, () => false), false);
    }),
});

Deno.test({
  name:
    "no request body holds a canary from the crashed program's environment, arguments or memory",
  ignore: noGcc,
  fn: () =>
    withEmulator(async (emu, dir) => {
      // Short enough for the kernel's 80-character copy of the command line.
      const canary = `CANARY${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
      const crashed = await crash("canary", dir, [`--token=${canary}`], undefined, {
        env: { AGENT_CANARY: canary },
      });
      // The canary is there to be found: in the core's bytes, its command line and, with gdb,
      // the frames' arguments.
      const bytes = new TextDecoder("latin1").decode(await Deno.readFile(crashed.core));
      assert(bytes.split(canary).length >= 3, "the canary is in the core's memory");
      const config = await configure(dir, emu);
      for (const provider of ["openai", "anthropic", "azure"]) {
        const run = await runAgent(
          [...config, "analyze", "core", crashed.core, "--ai", "--force", "-o", "json"],
          {
            env: {
              ...env,
              AGENT_AI_PROVIDER: provider,
              ...(provider === "azure" ? { AGENT_AI_ENDPOINT: emu.url } : {}),
            },
          },
        );
        assertEquals(run.code, 0, run.stderr);
        const analysis = json<CoreAnalysis & { ai: Explanation }>(run);
        assertEquals(analysis.ai.status, "explained", analysis.ai.reason ?? "");
        assertStringIncludes(analysis.process.commandLine ?? "", canary);
        if (analysis.gdb.used) {
          assertStringIncludes(JSON.stringify(analysis.stackTrace), canary);
        }
      }
      assertEquals(emu.requests.map((r) => r.format), ["openai", "anthropic", "azure"]);
      for (const request of emu.requests) {
        assert(!request.body.includes(canary), `a ${request.format} request holds the canary`);
        assert(!request.body.includes(canary.slice(0, 14)), "a request holds part of the canary");
        // The crash itself is there.
        assertStringIncludes(request.body, "handle");
        assertStringIncludes(request.body, "SIGSEGV");
      }
    }),
});
