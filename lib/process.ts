/**
 * Other processes on this host: whether one still runs, and when it started. Deno refuses
 * reads of `/proc/PID` without full access, so `cat` reads them. Used to tell leftovers and
 * claims of processes that are gone from those of processes that still work.
 *
 * @module
 */
import { runCommand, type Runner, type RunResult, text } from "./run.ts";

/**
 * When the process `pid` started (`/proc/PID/stat` field 22, clock ticks since boot), which
 * tells a process from a later one given the same pid: `null` when there is no such
 * process, `undefined` when that cannot be told (no `cat`).
 *
 * @example Usage
 * ```ts ignore
 * await processStartTime(Deno.pid); // "123456"
 * ```
 */
export async function processStartTime(
  pid: number,
  run: Runner = runCommand,
): Promise<string | null | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let result: RunResult;
  try {
    result = await run("cat", { args: ["--", `/proc/${pid}/stat`], timeoutMs: 5000 });
  } catch {
    return undefined;
  }
  if (result.code !== 0) return null;
  const stat = text(result.stdout);
  // The command name (field 2) is in parentheses and may hold spaces: count after it.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? undefined;
}

/**
 * Whether the process `pid` of this host is gone; false when that cannot be told.
 *
 * @example Usage
 * ```ts ignore
 * await processIsGone(Deno.pid); // false
 * ```
 */
export async function processIsGone(pid: number): Promise<boolean> {
  return (await processStartTime(pid)) === null;
}
