/**
 * What the Kata benchmarks share: a simulated Kata node (N fake shims in a process of their
 * own, `bench/_fake_shims.ts`), `agent daemon` over it run as users run it, and the daemon's
 * memory and CPU read from `/proc`.
 *
 * @module
 */
import { agentArgs, DENO_DIR } from "../tests/support/cli.ts";
import { freePort } from "../tests/support/net.ts";

/** Runs a command and returns its stdout; throws on a non-zero exit. */
export async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  if (!out.success) {
    throw new Error(`"${command} ${args.join(" ")}" failed: ${decoder.decode(out.stderr)}`);
  }
  return decoder.decode(out.stdout);
}

/** VmHWM and VmRSS of a process in MiB, from /proc (through `cat`: Deno wants --allow-all). */
export async function memory(pid: number): Promise<{ hwm: number; rss: number }> {
  const status = await run("cat", [`/proc/${pid}/status`]);
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new Error(`No ${name} in /proc/${pid}/status`);
    return Number(match[1]) / 1024;
  };
  return { hwm: field("VmHWM"), rss: field("VmRSS") };
}

/** User plus system CPU time of a process, in milliseconds. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await run("cat", [`/proc/${pid}/stat`]);
  // Fields after the command name (which may hold spaces) start at field 3, "state".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * 10; // CLK_TCK is 100 on Linux.
}

/** Reads lines from a child's stdout; each `next()` waits for the following one. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  const waiting: ((line: string | null) => void)[] = [];
  let ended = false;
  (async () => {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      for (let at = pending.indexOf("\n"); at >= 0; at = pending.indexOf("\n")) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 1);
        const waiter = waiting.shift();
        if (waiter) waiter(line);
        else lines.push(line);
      }
    }
  })().finally(() => {
    ended = true;
    for (const waiter of waiting.splice(0)) waiter(null);
  });
  return {
    next(): Promise<string | null> {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      if (ended) return Promise.resolve(null);
      return new Promise((resolve) => waiting.push(resolve));
    },
    /** Drops the lines received and not read yet; returns them. */
    drain(): string[] {
      return lines.splice(0);
    },
  };
}

/** A burst of shim requests (a scrape cycle) as the fake shims' process saw it. */
export interface Burst {
  requests: number;
  first: number;
  last: number;
}

/** The fake shims' process. */
export interface Shims {
  pid: number;
  /** Waits for the next burst of requests. */
  burst(): Promise<Burst>;
  /** Bursts reported and not read yet. */
  drain(): Burst[];
  /** Requests the shims received so far (as of the last 100 ms). */
  requests(): Promise<number>;
  close(): Promise<void>;
}

/** Starts `count` fake shims under `root` in a process of their own. */
export async function startShims(root: string, count: number): Promise<Shims> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-q",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      new URL("./_fake_shims.ts", import.meta.url).pathname,
      root,
      String(count),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child.stdout);
  const ready = await lines.next();
  if (ready !== `ready ${count}`) throw new Error(`The fake shims did not start: ${ready}`);
  return {
    pid: child.pid,
    async burst(): Promise<Burst> {
      const line = await lines.next();
      const match = /^burst (\d+) (\d+) (\d+)$/.exec(line ?? "");
      if (!match) throw new Error(`Unexpected line from the fake shims: ${line}`);
      return { requests: Number(match[1]), first: Number(match[2]), last: Number(match[3]) };
    },
    drain(): Burst[] {
      return lines.drain().map((line) => {
        const [, requests, first, last] = line.split(" ").map(Number);
        return { requests: requests!, first: first!, last: last! };
      });
    },
    async requests() {
      return Number(await Deno.readTextFile(`${root}.requests`));
    },
    async close() {
      await child.stdin.close();
      await child.status;
    },
  };
}

/** A running daemon. */
export interface Daemon {
  pid: number;
  base: string;
  /** When it was spawned (`Date.now()`). */
  spawnedAt: number;
  stop(): Promise<void>;
}

/** Options of {@linkcode startDaemon}. */
export interface DaemonOptions {
  /** `kata.metricsInterval`, in seconds. */
  intervalS: number;
  /** `--v8-flags` for the daemon's `deno run`, to try heap limits. */
  v8Flags?: string | undefined;
  /** More YAML for the `server` mapping, as `key: value` pairs. */
  server?: Record<string, string>;
}

/**
 * Starts `agent daemon` over the sandbox root `root`, with its configuration and state in
 * `dir`, and waits until it is ready.
 */
export async function startDaemon(
  dir: string,
  root: string,
  options: DaemonOptions,
): Promise<Daemon> {
  const port = freePort();
  const server = Object.entries({ listenAddress: `"127.0.0.1:${port}"`, ...options.server })
    .map(([key, value]) => `${key}: ${value}`).join(", ");
  await Deno.writeTextFile(
    `${dir}/agent.yaml`,
    `stateDir: ${dir}/state
collector: {paths: []}
kata:
  sandboxRoots: [${root}]
  runtimeEndpoint: ${dir}/no-runtime.sock
  metricsInterval: ${options.intervalS}s
server: {${server}}
`,
  );
  const args = agentArgs(["--config", `${dir}/agent.yaml`, "daemon"]);
  if (options.v8Flags) args.splice(1, 0, `--v8-flags=${options.v8Flags}`);
  const spawnedAt = Date.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1", DENO_DIR, HOME: dir, KUBECONFIG: "" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // The log's last 8 KiB, for the error when the daemon dies.
  let tail = "";
  const logged = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      tail = (tail + text).slice(-8192);
      if (Deno.env.get("BENCH_DAEMON_LOG")) Deno.stderr.writeSync(new TextEncoder().encode(text));
    }
  })();
  const base = `http://127.0.0.1:${port}`;
  let exited = false;
  child.status.then(() => (exited = true));
  for (let i = 0;; i++) {
    if (exited || i > 600) {
      throw new Error(`The daemon did not become ready:\n${tail}`);
    }
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.body?.cancel().then(() => r.ok),
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid,
    base,
    spawnedAt,
    async stop() {
      child.kill("SIGTERM");
      const status = await child.status;
      await logged;
      if (status.code !== 0) throw new Error(`The daemon exited ${status.code}:\n${tail}`);
    },
  };
}

/** The machine, Deno and the checkout, for the header of a benchmark's results. */
export async function machine(extra = ""): Promise<string> {
  const meminfo = await run("cat", ["/proc/meminfo"]);
  const totalKb = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1]);
  const cores = (await run("nproc", [])).trim();
  const kernel = (await run("uname", ["-r"])).trim();
  const commit = (await run("git", ["rev-parse", "--short", "HEAD"]).catch(() => "?")).trim();
  const changed = (await run("git", [
    "status",
    "--porcelain",
    "--",
    "main.ts",
    "cli",
    "daemon",
    "lib",
    "deno.json",
    "deno.lock",
  ]).catch(() => "")).trimEnd();
  const local = changed
    ? `, local changes: ${changed.split("\n").map((l) => l.slice(3)).join(" ")}`
    : "";
  return `${new Date().toISOString().slice(0, 10)}, ${cores} cores, ${
    Math.round(totalKb / 2 ** 20)
  } GB, Linux ${kernel}, Deno ${Deno.version.deno}${extra}, commit ${commit}${local}`;
}
