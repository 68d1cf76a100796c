/** Shared fixtures of the AI tests: a crash context and settings against an emulator. */
import { loadConfig } from "../../config/mod.ts";
import { type AiSettings, aiSettings, type CrashContext } from "../mod.ts";

/** A context like the one of the `segv` sample, with `frames` frames and `threads` others. */
export function sampleContext(
  options: { frames?: number; threads?: number; fingerprint?: string } = {},
): CrashContext {
  const frames = Array.from(
    { length: options.frames ?? 2 },
    (_, i) =>
      i === 0
        ? { function: "deref", file: "/src/segv.c", line: 5, module: "segv", offset: "0x1139" }
        : {
          function: `caller_${i}`,
          file: "/src/segv.c",
          line: 9 + i,
          module: "segv",
          offset: `0x${(0x1160 + i).toString(16)}`,
        },
  );
  return {
    program: "segv",
    machine: "x86_64",
    signal: {
      name: "SIGSEGV",
      number: 11,
      description: "address not mapped to object",
      faultAddress: "0x0",
    },
    goSignal: null,
    crashReason: "SIGSEGV (address not mapped to object) at 0x0 in deref() at segv.c:5",
    message: null,
    stackOf: "thread",
    frames,
    crashFrame: 0,
    threadCount: 1 + (options.threads ?? 0),
    otherThreads: Array.from({ length: options.threads ?? 0 }, (_, i) => ({
      name: `worker-${i}`,
      at: `idle_worker() at threads.c:${i + 1}`,
    })),
    group: {
      fingerprint: options.fingerprint ?? "3f9a0c2d5e6b7a81",
      basis: ["SIGSEGV", "deref", "main"],
      occurrences: 3,
    },
    instance: { name: "prod", kind: "helm", container: "main", image: "milvusdb/milvus:v2.4.0" },
    restarts: [{ at: "2026-11-22T01:02:03Z", exitCode: 139, signal: 11, reason: "Error" }],
  };
}

/** Settings for `endpoint` with `ai` keys over the defaults. */
export async function testSettings(
  endpoint: string,
  ai: Record<string, unknown> = {},
  env: Record<string, string> = { AGENT_AI_API_KEY: "sk-test" },
): Promise<AiSettings> {
  const flags: Record<string, unknown> = {
    "ai.endpoint": endpoint,
    "ai.model": "gpt-test",
    "ai.prices": [{ model: "gpt-test", input: 2, output: 8 }],
  };
  for (const [key, value] of Object.entries(ai)) flags[`ai.${key}`] = value;
  const config = await loadConfig({ env: () => undefined, flags });
  return await aiSettings(config, { env: (name) => env[name] });
}
