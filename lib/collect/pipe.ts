/**
 * `core_pattern` pipe mode: the kernel runs `agent collect --from-stdin %P %s %t %e %h` and
 * writes the core to its stdin. The core is compressed as it arrives into a spool file in
 * the state directory (never an uncompressed copy), then goes through the pipeline like
 * any other core; a core the pipeline could not finish stays in the spool, where the
 * daemon's collector retries it.
 *
 * Installing the pattern is opt-in: {@linkcode installCorePattern} saves the previous
 * pattern beside the state database and {@linkcode restoreCorePattern} puts it back.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { errorMessage, InputError, UnavailableError } from "../errors.ts";
import { runCommand, text } from "../run.ts";
import { openStore, type Store, storeCompressed } from "../store/mod.ts";
import { processCgroup } from "./_host.ts";
import { parseCgroup } from "./correlate.ts";
import type { CoreHints } from "./pipeline.ts";
import { safeName } from "../store/mod.ts";

/** The kernel's `core_pattern` file. */
export const CORE_PATTERN_FILE = "/proc/sys/kernel/core_pattern";

/** The arguments the installed pattern passes, in order. */
export const PIPE_SPECIFIERS = ["%P", "%s", "%t", "%e", "%h"] as const;

/** The kernel keeps at most this many bytes of `core_pattern` (CORENAME_MAX_SIZE - 1). */
const MAX_PATTERN = 127;

/** The spool directory of pipe mode. */
export function spoolDir(config: Pick<Config, "stateDir">): string {
  return `${config.stateDir}/spool`;
}

/**
 * Reads the pipe-mode arguments `%P %s %t %e %h` (global pid, signal, seconds since the
 * epoch, executable name, hostname). Missing trailing ones are allowed.
 *
 * @throws {InputError} when one is malformed.
 */
export function parsePipeArguments(args: readonly string[]): CoreHints {
  const [pid, signal, time, comm, hostname] = args;
  const number = (text: string | undefined, what: string) => {
    if (text === undefined || text === "") return undefined;
    if (!/^\d+$/.test(text)) {
      throw new InputError(`Invalid ${what} "${text}": expected a whole number`);
    }
    return Number(text);
  };
  const seconds = number(time, "time (%t)");
  const hints: CoreHints = {};
  const p = number(pid, "pid (%P)");
  const s = number(signal, "signal (%s)");
  if (p !== undefined) hints.pid = p;
  if (s !== undefined) hints.signal = s;
  if (seconds !== undefined) hints.time = new Date(seconds * 1000);
  if (comm) hints.comm = comm;
  if (hostname) hints.hostname = hostname;
  return hints;
}

/**
 * Spools a core from `input` (the kernel's pipe: `Deno.stdin`, read into the spool's own
 * buffers, or a web stream) into the spool directory, compressed as the store wants it.
 * Reads the crashing process's cgroup and copies its debug bundle (the executable and
 * libraries, `collector.bundleMaxBytes`, 0 for none) first, while it still exists. Returns
 * the spool file and the hints for the pipeline.
 *
 * @throws {UnavailableError} when the spool cannot be written (the partial file is removed).
 */
export async function spoolCore(
  config: Config,
  input: ReadableStream<Uint8Array> | { read(buffer: Uint8Array): Promise<number | null> },
  hints: CoreHints,
): Promise<{ path: string; hints: CoreHints }> {
  // Loaded here: the bundle's reader (zod, the ELF notes) is no weight on the daemon, which
  // imports this module for spoolDir alone.
  const { bundleDir, collectBundle } = await import("./bundle.ts");
  const cgroupText = hints.pid !== undefined ? await processCgroup(hints.pid) : undefined;
  const withCgroup: CoreHints = cgroupText ? { ...hints, cgroup: parseCgroup(cgroupText) } : hints;
  const dir = spoolDir(config);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const stamp = Math.floor((hints.time?.getTime() ?? Date.now()) / 1000);
  const extension = config.storage.compression === "gzip" ? "gz" : "zst";
  const path = `${dir}/core.${safeName(hints.comm ?? "unknown")}.${hints.pid ?? 0}.${
    hints.signal ?? 0
  }.${stamp}.${safeName(hints.hostname ?? "unknown")}.${extension}`;
  if (hints.pid !== undefined && config.collector.bundleMaxBytes > 0) {
    // Before the core is read: until then the kernel waits on the pipe and the process, with
    // its files, is still there. The store is asked only to skip what it already holds.
    let store: Store | undefined;
    try {
      store = openStore(config.storage, config.nodeName || Deno.hostname());
    } catch {
      // Everything is copied; the pipeline reports the store's problem.
    }
    await collectBundle(hints.pid, bundleDir(path), {
      maxBytes: config.collector.bundleMaxBytes,
      ...(store ? { store } : {}),
      ...(hints.comm ? { comm: hints.comm } : {}),
    });
  }
  try {
    await storeCompressed(input, path, {
      compression: config.storage.compression,
      workers: config.storage.compressionWorkers,
    });
  } catch (error) {
    await Deno.remove(bundleDir(path), { recursive: true }).catch(() => {});
    throw error;
  }
  return { path, hints: withCgroup };
}

/** The pattern that pipes cores to `agentPath`. */
export function pipePattern(agentPath: string): string {
  return `|${agentPath} collect --from-stdin ${PIPE_SPECIFIERS.join(" ")}`;
}

/**
 * Installs the pipe pattern, saving the previous one as `core_pattern.saved` in the state
 * directory (unless the previous one is already ours). Returns the pattern written.
 *
 * @throws {InputError} when the agent path is not absolute or the pattern is too long.
 * @throws {UnavailableError} when the pattern file cannot be read or written.
 */
export async function installCorePattern(
  config: Pick<Config, "stateDir">,
  agentPath: string,
  file = CORE_PATTERN_FILE,
): Promise<{ pattern: string; previous: string }> {
  if (!agentPath.startsWith("/") || /\s/.test(agentPath)) {
    throw new InputError(
      `Invalid agent path "${agentPath}": the kernel needs an absolute path without spaces`,
    );
  }
  const pattern = pipePattern(agentPath);
  if (pattern.length > MAX_PATTERN) {
    throw new InputError(
      `The core_pattern would be ${pattern.length} bytes; the kernel keeps ${MAX_PATTERN}: use a shorter agent path`,
    );
  }
  const previous = (await readPattern(file)).trimEnd();
  const saved = `${config.stateDir}/core_pattern.saved`;
  if (!previous.includes(" collect --from-stdin ")) {
    await Deno.mkdir(config.stateDir, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(saved, previous + "\n");
  }
  await writePattern(file, pattern);
  return { pattern, previous };
}

/**
 * Restores the pattern saved by {@linkcode installCorePattern}. Returns it.
 *
 * @throws {InputError} when nothing was saved.
 */
export async function restoreCorePattern(
  config: Pick<Config, "stateDir">,
  file = CORE_PATTERN_FILE,
): Promise<string> {
  const saved = `${config.stateDir}/core_pattern.saved`;
  let previous: string;
  try {
    previous = (await Deno.readTextFile(saved)).trimEnd();
  } catch {
    throw new InputError(`No saved core_pattern in "${saved}": nothing to restore`);
  }
  await writePattern(file, previous);
  await Deno.remove(saved);
  return previous;
}

// Deno refuses /proc/sys to anything short of full access, so `cat` and `tee` do the I/O.
async function readPattern(file: string): Promise<string> {
  const result = await runCommand("cat", { args: ["--", file] }).catch((error) => error as Error);
  if (result instanceof Error || result.code !== 0) {
    const reason = result instanceof Error ? result.message : text(result.stderr).trim();
    throw new UnavailableError(`Cannot read "${file}": ${reason}`);
  }
  return text(result.stdout);
}

async function writePattern(file: string, pattern: string): Promise<void> {
  let reason = "";
  try {
    const result = await runCommand("tee", { args: ["--", file], stdin: pattern + "\n" });
    if (result.code === 0) return;
    reason = text(result.stderr).trim();
  } catch (error) {
    reason = errorMessage(error);
  }
  throw new UnavailableError(
    `Cannot write "${file}" (root and a writable /proc/sys are needed): ${reason}`,
  );
}
