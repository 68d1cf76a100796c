/**
 * `agent stats` as a user runs it: the table's shape and width, one JSON object a line per
 * report, the exposition text, the help's list of collectors, and the exit codes of bad
 * arguments and of a host it cannot read. Over this host (whatever it runs), and over the
 * captured tree of lib/node/testdata for content that must not depend on the moment.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { runAgent } from "./support/cli.ts";
import { haveCommand } from "./support/cores.ts";
import { promtoolCheck } from "./support/promtool.ts";
import { NODE_COLLECTOR_NAMES } from "../lib/node/mod.ts";
import { withHost } from "../lib/node/_testing.ts";
import type { StatsReport } from "../lib/node/stats.ts";
import { parsePrometheusText } from "../lib/prom/mod.ts";

const FIXTURE = new URL("../lib/node/testdata/host/", import.meta.url).pathname;

/** The captured host's trees, as the DaemonSet's environment names them. */
const FIXTURE_ENV = {
  HOST_PROC: `${FIXTURE}proc`,
  HOST_SYS: `${FIXTURE}sys`,
  HOST_ROOT: FIXTURE,
};

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

Deno.test("agent stats prints a table of every section within 120 columns", async () => {
  const run = await runAgent(["stats", "--interval", "200ms"]);
  assertEquals(run.code, 0, run.stderr);
  for (const heading of ["CPU%", "LOAD 1M", "MEMORY", "DISK", "NETWORK", "FILESYSTEM", "PID"]) {
    assertMatch(run.stdout, new RegExp(`^${heading.replace("%", "%")}\\s`, "m"));
  }
  const wide = run.stdout.split("\n").filter((line) => line.length > 120);
  assertEquals(wide, []);
});

Deno.test("agent stats cuts long mount points and pod names to fit 120 columns", () =>
  withHost(async (root) => {
    const long = `/var/lib/kubelet/pods/${"0".repeat(36)}/volumes/kubernetes.io~csi/${
      "pvc-".padEnd(60, "x")
    }/mount`;
    await Deno.mkdir(`${root}${long.slice(1)}`, { recursive: true });
    await Deno.writeTextFile(
      `${root}proc/1/mountinfo`,
      `27 1 254:0 / / rw - ext4 /dev/vda rw\n28 27 254:0 / ${long} rw - ext4 ${
        "/dev/mapper/".padEnd(50, "v")
      } rw\n`,
    );
    const pod = "a-statefulset-with-a-very-long-name-indeed-0";
    const uid = "1c1bd4d1-0f6e-4b4b-9d5d-9a5b0e3f1a11";
    await Deno.rename(
      `${root}var/log/pods/milvus_milvus-querynode-0_${uid}`,
      `${root}var/log/pods/a-namespace-with-a-long-name_${pod}_${uid}`,
    );
    const run = await runAgent(["stats", "filesystem", "processes", "--interval", "100ms"], {
      env: { HOST_PROC: `${root}proc`, HOST_SYS: `${root}sys`, HOST_ROOT: root },
    });
    assertEquals(run.code, 0, run.stderr);
    // Both ends of the path: where it is, and the volume's name.
    assertMatch(run.stdout, /rw {3}\/var\/lib\/kube[^ ]*…x+\/mount$/m);
    assertStringIncludes(run.stdout, `a-namespace-with-a-long-name/a-statefulset`);
    assertEquals(run.stdout.split("\n").filter((line) => line.length > 120), []);
  }));

Deno.test("agent stats -o json prints one object a line per report, --count of them", async () => {
  const run = await runAgent(["stats", "-o", "json", "--count", "2", "--interval", "100ms"]);
  assertEquals(run.code, 0, run.stderr);
  const reports = lines(run.stdout).map((line) => JSON.parse(line) as StatsReport);
  assertEquals(reports.length, 2);
  for (const report of reports) {
    assert(report.intervalSeconds > 0, "interval");
    assertEquals(Object.values(report.cpu!.percent).reduce((a, b) => a + b, 0).toFixed(0), "100");
    assert(report.memory!.totalBytes! > 0, "memory");
    assert(report.processes!.top.length > 0, "top processes");
    assert(report.filesystems!.some((f) => f.mountpoint === "/"), "the root filesystem");
  }
});

Deno.test("agent stats COLLECTOR... runs those only; -o prom prints the exposition text", async () => {
  const run = await runAgent(["stats", "load", "netstat", "-o", "prom", "--interval", "100ms"]);
  assertEquals(run.code, 0, run.stderr);
  const families = parsePrometheusText(run.stdout);
  const names = new Set(families.map((f) => f.name));
  for (const name of ["node_load1", "node_netstat_Tcp_InSegs", "node_sockstat_sockets_used"]) {
    assert(names.has(name), name);
  }
  assert(!names.has("node_cpu_seconds_total"), "cpu did not run");
  assertEquals(
    families.find((f) => f.name === "node_scrape_collector_success")?.samples.map((s) =>
      s.labels.collector
    ),
    ["load", "netstat"],
  );
  if (haveCommand("promtool")) assertEquals((await promtoolCheck(run.stdout)).defects, []);
});

Deno.test("agent stats reads the trees HOST_PROC, HOST_SYS and HOST_ROOT name", async () => {
  const run = await runAgent(["stats", "processes", "disk", "-o", "json", "--interval", "100ms"], {
    env: FIXTURE_ENV,
  });
  assertEquals(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as StatsReport;
  assertEquals(report.processes!.total, 6);
  const milvus = report.processes!.top.find((p) => p.comm === "milvus")!;
  assertEquals([milvus.namespace, milvus.pod, milvus.container], [
    "milvus",
    "milvus-querynode-0",
    "querynode",
  ]);
  // The same files twice: nothing moved.
  assertEquals(report.disks!.map((d) => [d.device, d.readsPerSecond]), [["vda", 0]]);
  const table = await runAgent(["stats", "processes", "--interval", "100ms"], { env: FIXTURE_ENV });
  assertStringIncludes(table.stdout, "milvus/milvus-querynode-0/querynode");
});

Deno.test("agent stats --help explains every collector", async () => {
  const run = await runAgent(["stats", "--help"]);
  assertEquals(run.code, 0);
  for (const name of NODE_COLLECTOR_NAMES) {
    assertMatch(run.stdout, new RegExp(`^  ${name}\\s`, "m"));
  }
  assertStringIncludes(run.stdout, "reads proc/diskstats");
});

Deno.test("agent stats rejects a bad collector, interval or count with one line, exit code 2", async () => {
  for (
    const [args, part] of [
      [["stats", "nope"], '"nope"'],
      [["stats", "--interval", "soon"], "--interval"],
      [["stats", "--interval", "10ms"], "--interval"],
      [["stats", "--count", "0"], "--count"],
      [["stats", "-o", "yaml"], "yaml"],
    ] as const
  ) {
    const run = await runAgent([...args]);
    assertEquals(run.code, 2, args.join(" "));
    assertEquals(run.stdout, "");
    assertEquals(lines(run.stderr).length, 1, run.stderr);
    assertStringIncludes(run.stderr, part);
    assertStringIncludes(run.stderr, '(see "agent stats --help")');
  }
});

Deno.test("agent stats exits 3 when no collector can read the host", async () => {
  const run = await runAgent(["stats", "load", "pressure"], {
    env: { HOST_PROC: "/nonexistent/proc" },
  });
  assertEquals(run.code, 3);
  assertEquals(run.stdout, "");
  const last = lines(run.stderr).at(-1)!;
  assertMatch(last, /^Cannot collect node stats: no collector could read its sources \(/);
});
