/**
 * Runs the `agent` CLI as a user would: a separate process through `deno run`, with the
 * project's `agent` permission set, capturing stdout, stderr and the exit code.
 *
 * @module
 */
import type { CoreAnalysis } from "../../lib/core/mod.ts";

/** What one CLI run produced. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/** Options of {@linkcode runAgent}. */
export interface RunAgentOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the process after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  /** A file to feed to stdin (default: none). */
  stdinFile?: string;
  /**
   * A command the agent runs under, e.g. `["nsenter", "--net=/proc/7/ns/net", "--"]` to reach
   * a server in another network namespace.
   */
  wrap?: string[];
}

/**
 * Where Deno keeps its module cache for this test run. Passed to every agent process, so a
 * test that moves `HOME` (to hide `~/.kube/config`) does not make Deno fetch every npm
 * package again into an empty cache.
 */
export const DENO_DIR: string = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache`}/deno`;

/**
 * The V8 flags `deno task start` runs the agent with in the checkout at `root` (this one by
 * default), as one `--v8-flags=...` argument: the compiled binary, the launcher and the image
 * pass the same (tests/v8_flags_test.ts), so benchmarks run each checkout's agent with its own.
 */
export function startV8Flags(root: string = ROOT): string {
  const start: string = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`)).tasks.start;
  const flags = /--v8-flags=\S+/.exec(start)?.[0];
  if (flags === undefined) throw new Error(`${root}/deno.json: no --v8-flags in the start task`);
  return flags;
}

/** The arguments of `deno` that run `agent ARGS...` from this checkout, as users do. */
export function agentArgs(args: string[]): string[] {
  return ["run", "-q", "-P=agent", "--config", `${ROOT}deno.json`, `${ROOT}main.ts`, ...args];
}

/** Runs `agent ARGS...` and waits for it to exit. */
export async function runAgent(args: string[], options: RunAgentOptions = {}): Promise<CliRun> {
  const wrap = options.wrap ?? [];
  const child = new Deno.Command(wrap[0] ?? Deno.execPath(), {
    args: wrap.length > 0
      ? [...wrap.slice(1), Deno.execPath(), ...agentArgs(args)]
      : agentArgs(args),
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: "1", DENO_DIR, ...options.env },
    stdin: options.stdinFile ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdinFile) {
    const file = await Deno.open(options.stdinFile);
    file.readable.pipeTo(child.stdin).catch(() => {});
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Parses stdout as JSON. */
export function json<T = unknown>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(
      `stdout is not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`,
    );
  }
}

/** Runs `agent analyze core ARGS... -o json`, expects exit code 0 and returns the analysis. */
export async function analyzeJson(args: string[]): Promise<CoreAnalysis> {
  const run = await runAgent(["analyze", "core", ...args, "-o", "json"]);
  if (run.code !== 0) throw new Error(`analyze core exited ${run.code}: ${run.stderr}`);
  return json<CoreAnalysis>(run);
}

/** The last component of a path, or `undefined`. */
export function base(path: string | undefined): string | undefined {
  return path?.split("/").at(-1);
}
