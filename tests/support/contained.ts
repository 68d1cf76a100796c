/**
 * A crashed process "in a container", held alive: `programs/service` runs in a mount
 * namespace whose root is a tmpfs holding only its executable and library (`/app`) and glibc,
 * so the paths its core names (`/app/service`, `/app/libservice.so`) do not exist on this
 * host. When it faults, gdb (attached from the host) stops it, writes its core and keeps it
 * there, as the kernel keeps a process while it pipes the core to `core_pattern`'s helper:
 * the test runs the agent's pipe mode then, and releases it after. Needs root (`unshare`,
 * `mount`, `pivot_root`).
 *
 * @module
 */
import { compile, haveCommand } from "./cores.ts";

/** Why a contained process cannot be made here, or `undefined` when it can. */
export function containedMissing(): string | undefined {
  for (const tool of ["unshare", "pivot_root", "gdb", "gcc"]) {
    if (!haveCommand(tool)) return `${tool} is not installed`;
  }
  if (Deno.uid() !== 0) return "a mount namespace of its own needs root";
  return undefined;
}

/** A crashed contained process, held by gdb. */
export interface HeldCrash {
  /** Its pid (on this host). */
  pid: number;
  /** The core gdb wrote of it. */
  core: string;
  /** The executable and library as built, on this host (not where the core says). */
  built: { exe: string; library: string };
  /** Lets gdb kill it, and waits for both to end. */
  release(): Promise<void>;
}

/** Reads `stream` until `text` has come, and returns everything read. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  text: string,
  what: string,
): Promise<string> {
  let seen = "";
  while (!seen.includes(text)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`${what} ended before printing ${JSON.stringify(text)}:\n${seen}`);
    seen += value;
  }
  return seen;
}

/** Keeps reading a stream to its end, so that its writer never blocks on a full pipe. */
function drain(reader: ReadableStreamDefaultReader<string>): Promise<void> {
  return (async () => {
    try {
      while (!(await reader.read()).done) {
        // Discarded.
      }
    } catch {
      // Closed.
    }
  })();
}

/**
 * Builds `service` (once per `dir`), runs it contained, makes it crash under gdb and returns
 * it held, with its core in `dir/NAME.core`.
 */
export async function holdContainedCrash(dir: string, name: string): Promise<HeldCrash> {
  const build = `${dir}/build`;
  const rootfs = `${dir}/rootfs`;
  let exe = `${build}/service`;
  if (!(await Deno.stat(exe).then(() => true, () => false))) {
    await Deno.mkdir(build, { recursive: true });
    exe = await compile("service", build);
    for (const sub of ["app", "lib/x86_64-linux-gnu", "lib64", "proc", "old"]) {
      await Deno.mkdir(`${rootfs}/${sub}`, { recursive: true });
    }
    await Deno.copyFile(exe, `${rootfs}/app/service`);
    await Deno.chmod(`${rootfs}/app/service`, 0o755);
    await Deno.copyFile(`${build}/libservice.so`, `${rootfs}/app/libservice.so`);
    for (const lib of ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]) {
      await Deno.copyFile(await Deno.realPath(lib), `${rootfs}${lib}`);
      await Deno.chmod(`${rootfs}${lib}`, 0o755);
    }
  }
  const newRoot = `${dir}/${name}.root`;
  await Deno.mkdir(newRoot, { recursive: true });
  // The tmpfs is mounted in the new namespace only: on this host newRoot stays empty.
  const service = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      'mount -t tmpfs agent-test "$0" && cp -a "$1/." "$0/" && mount -t proc proc "$0/proc" && ' +
      'cd "$0" && pivot_root . old && exec /app/service',
      newRoot,
      rootfs,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = service.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const serviceErrors = new Response(service.stderr).text();
  try {
    await readUntil(out, "ready", "the contained service");
  } catch (error) {
    throw new Error(`${error}\n${await serviceErrors}`);
  }
  const pid = service.pid;
  const core = `${dir}/${name}.core`;
  const gdb = new Deno.Command("gdb", {
    args: [
      "-nx",
      "-batch",
      "-p",
      String(pid),
      // Once attached (the process stopped), the request may be sent: it waits in the pipe.
      "-ex",
      "echo @@attached@@\\n",
      "-ex",
      "continue",
      "-ex",
      `generate-core-file ${core}`,
      "-ex",
      "echo @@held@@\\n",
      // Holds the process until the test writes a line to gdb's stdin.
      "-ex",
      "shell read line",
      "-ex",
      "kill",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const gdbOut = gdb.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const gdbErrors = new Response(gdb.stderr).text();
  await readUntil(gdbOut, "@@attached@@", "gdb").catch(async (error) => {
    throw new Error(`${error}\n${await gdbErrors}`);
  });
  const input = service.stdin.getWriter();
  await input.write(new TextEncoder().encode("go\n"));
  await readUntil(gdbOut, "@@held@@", "gdb").catch(async (error) => {
    throw new Error(`${error}\n${await gdbErrors}`);
  });
  const drained = drain(gdbOut);
  const serviceDrained = drain(out);
  return {
    pid,
    core,
    built: { exe, library: `${build}/libservice.so` },
    async release() {
      const release = gdb.stdin.getWriter();
      await release.write(new TextEncoder().encode("\n"));
      await release.close();
      await gdb.status;
      await input.close().catch(() => {});
      await service.status;
      await Promise.all([drained, serviceDrained, gdbErrors, serviceErrors]);
    },
  };
}
