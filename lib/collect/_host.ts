/**
 * Facts about a core file that only the host's tools give: the `user.coredump.*` extended
 * attributes systemd-coredump sets (through `getfattr`), whether any process holds the file
 * open (through `fuser`: Deno's permission model refuses to read other processes' `/proc`
 * entries without full access), and a process's cgroup (through `cat`). Each tool is run with
 * an argument vector, never a shell, and a missing tool means "unknown", not an error.
 *
 * @module
 */
import { resolve } from "node:path";
import { runCommand, text } from "../run.ts";

async function run(
  command: string,
  args: string[],
  timeoutMs = 5000,
): Promise<{ code: number; stdout: string } | undefined> {
  try {
    const result = await runCommand(command, { args, timeoutMs });
    return { code: result.code, stdout: text(result.stdout) };
  } catch {
    return undefined;
  }
}

/**
 * systemd-coredump's extended attributes of a core (`user.coredump.pid`, `.hostname`,
 * `.comm`, `.exe`, `.signal`, `.timestamp`...), without the `user.coredump.` prefix; empty when
 * there are none or `getfattr` is missing.
 */
export async function coredumpXattrs(path: string): Promise<Record<string, string>> {
  const result = await run("getfattr", [
    "--absolute-names",
    "-d",
    "-e",
    "hex",
    "-m",
    "^user\\.coredump\\.",
    "--",
    path,
  ]);
  const attributes: Record<string, string> = {};
  if (!result || result.code !== 0) return attributes;
  for (const line of result.stdout.split("\n")) {
    const match = /^user\.coredump\.([a-z_]+)=0x([0-9a-f]*)$/.exec(line);
    if (!match) continue;
    const bytes = new Uint8Array(match[2]!.length / 2).map((_, i) =>
      parseInt(match[2]!.slice(i * 2, i * 2 + 2), 16)
    );
    attributes[match[1]!] = new TextDecoder().decode(bytes).replace(/\0+$/, "");
  }
  return attributes;
}

/**
 * Whether some process has `path` open: `true`, `false`, or `undefined` when that cannot be
 * told (`fuser` missing). The kernel writes a core without a file descriptor in any process,
 * so this catches copies and other writers; the size settling catches the kernel.
 */
export async function isOpenByAnyProcess(path: string): Promise<boolean | undefined> {
  // fuser takes no "--": an absolute path cannot be read as an option.
  const result = await run("fuser", ["-s", resolve(path)]);
  if (!result) return undefined;
  if (result.code === 0) return true;
  return result.code === 1 ? false : undefined;
}

/** The text of `/proc/PID/cgroup`, or `undefined` when the process is gone or unreadable. */
export async function processCgroup(pid: number): Promise<string | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const result = await run("cat", ["--", `/proc/${pid}/cgroup`]);
  return result?.code === 0 ? result.stdout : undefined;
}
