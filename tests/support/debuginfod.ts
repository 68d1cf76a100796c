/**
 * A real `debuginfod` (Debian package `debuginfod`) for tests, serving the ELF and DWARF files
 * of one directory. debuginfod 0.188 listens on every interface and has no option to bind
 * one, so it runs in a network namespace of its own, where only the loopback interface exists:
 * nothing is reachable from outside the machine, or even from the host's own network. The
 * agent reaches it at `http://127.0.0.1:8002` by running in the same namespace
 * (`nsenter --net`, see {@linkcode Debuginfod.wrap}). Needs root.
 *
 * @module
 */
import { haveCommand } from "./cores.ts";

/** Whether a debuginfod can be started here, or why not. */
export function debuginfodMissing(): string | undefined {
  for (const tool of ["debuginfod", "unshare", "nsenter", "ip"]) {
    if (!haveCommand(tool)) {
      return `${tool} is not installed (Debian packages debuginfod, util-linux, iproute2)`;
    }
  }
  if (Deno.uid() !== 0) return "a network namespace of its own needs root";
  return undefined;
}

/** A running debuginfod. */
export interface Debuginfod {
  /** Its address, inside its network namespace. */
  url: string;
  /** The command prefix that runs a command in its network namespace. */
  wrap: string[];
  /** Stops it and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts debuginfod on the files of `serve` (its database in `work`) and waits until it has
 * indexed them: the line it logs when its scan of the directory is done.
 */
export async function startDebuginfod(serve: string, work: string): Promise<Debuginfod> {
  const child = new Deno.Command("unshare", {
    args: [
      "--net",
      "--",
      "sh",
      "-c",
      'ip link set lo up && exec debuginfod -v -F -p 8002 -d "$0/db.sqlite" -t 0 -g 0 "$1"',
      work,
      serve,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  try {
    for (;;) {
      const { done, value } = await lines.read();
      if (done) throw new Error(`debuginfod exited before indexing ${serve}:\n${log}`);
      log += value;
      if (/fts traversed .* scanned=\d+/.test(log)) break;
    }
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  }
  // Keeps reading, so that its log never fills the pipe and blocks it.
  const drained = (async () => {
    try {
      while (!(await lines.read()).done) {
        // Discarded.
      }
    } catch {
      // Cancelled at stop.
    }
  })();
  return {
    url: "http://127.0.0.1:8002",
    wrap: ["nsenter", `--net=/proc/${child.pid}/ns/net`, "--"],
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited already.
      }
      await child.status;
      await drained;
    },
  };
}
