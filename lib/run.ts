/**
 * How `lib/` runs other programs (gdb aside, which streams): one {@linkcode Runner} type and
 * its default on `Deno.Command`, with an argument vector (never a shell), optional stdin, a
 * timeout and a cap on what is kept of the output. Functions that spawn take a `run` option
 * defaulting to {@linkcode runCommand}, so tests can pass their own.
 *
 * @module
 */
import { readCapped } from "./io.ts";

/** What to run a program with. */
export interface RunOptions {
  args: string[];
  /** Written to the program's stdin (none: stdin is /dev/null). */
  stdin?: Uint8Array | string;
  /** Environment variables; with `clearEnv`, the only ones. */
  env?: Record<string, string>;
  clearEnv?: boolean;
  /** Kill the program after this long; default 60 s. */
  timeoutMs?: number;
  /** Keep at most this much of stdout and of stderr each; default 16 MiB. */
  maxOutputBytes?: number;
}

/** What a program did. */
export interface RunResult {
  /** The exit code (-1 when killed by the timeout). */
  code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  timedOut: boolean;
}

/**
 * Runs a program to its end. Throws only when it cannot be started (`Deno.errors.NotFound`
 * for a missing program): a failure is in `code`.
 */
export type Runner = (command: string, options: RunOptions) => Promise<RunResult>;

/**
 * Runs `command` with `Deno.Command`.
 *
 * @example Usage
 * ```ts ignore
 * const { code, stdout } = await runCommand("df", { args: ["-P", "/"] });
 * ```
 */
export async function runCommand(command: string, options: RunOptions): Promise<RunResult> {
  const max = options.maxOutputBytes ?? 16 << 20;
  const child = new Deno.Command(command, {
    args: options.args,
    ...(options.env ? { env: options.env } : {}),
    ...(options.clearEnv ? { clearEnv: true } : {}),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, options.timeoutMs ?? 60_000);
  try {
    const input = options.stdin === undefined ? Promise.resolve() : ReadableStream.from([
      typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin,
    ]).pipeTo(child.stdin).catch(() => {});
    // Read while writing: a pipe holds 64 KiB.
    const [stdout, stderr, status] = await Promise.all([
      readCapped(child.stdout, max, { over: "drain" }),
      readCapped(child.stderr, max, { over: "drain" }),
      child.status,
      input,
    ]);
    return {
      code: timedOut ? -1 : status.code,
      stdout: stdout.bytes,
      stderr: stderr.bytes,
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** The text of a run's output, decoded as UTF-8. */
export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
