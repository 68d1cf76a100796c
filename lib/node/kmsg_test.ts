import * as fs from "node:fs";
import { assert, assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { parseMessage, parseRecord } from "./_kmsg.ts";
import {
  type KernelEvent,
  KernelLog,
  type KernelLogOptions,
  kmsgCollector,
  type KmsgFs,
  openKmsg,
} from "./kmsg.ts";
import { collectNode } from "./mod.ts";

/** Records as `/dev/kmsg` gives them, before and after the reader starts. */
const KMSG = new URL("./testdata/kmsg/", import.meta.url).pathname;
const BACKLOG = Deno.readTextFileSync(`${KMSG}backlog.txt`);
const LIVE = Deno.readTextFileSync(`${KMSG}live.txt`);
/** The uptime at the start: the backlog's records are older, the live ones newer. */
const START_US = 5_000_000_000;
/** The wall clock at the start: boot was START_US earlier. */
const NOW_MS = 1_800_000_000_000;

Deno.test("parseRecord() reads the header and leaves dictionary lines out", () => {
  assertEquals(parseRecord("3,2194,4869900090,-;Memory cgroup out of memory: x"), {
    facility: 0,
    level: 3,
    seq: 2194,
    usec: 4869900090,
    message: "Memory cgroup out of memory: x",
  });
  assertEquals(parseRecord("14,7,1,c;hello")?.facility, 1);
  assertEquals(parseRecord(" SUBSYSTEM=net"), undefined);
});

Deno.test("parseMessage() knows the kernel's OOM, segfault, trap and hung task lines", () => {
  const lines = (BACKLOG + LIVE).split("\n").flatMap((l) => parseRecord(l) ?? []);
  const parsed = lines.map((r) => parseMessage(r.message)).filter((m) => m !== undefined);
  assertEquals(parsed.map((m) => `${m.kind}:${m.pid}:${m.comm}`), [
    "crash:6696:recursive",
    "oom-summary:4242:stress",
    "oom-kill:4242:stress",
    "hung-task:212:jbd2/vda1-8",
    "crash:31337:querynode",
    "crash:999:fake",
    "crash:31400:datanode",
    "oom-summary:1200:mysqld",
    "oom-kill:1200:mysqld",
    "hung-task:93:kworker/u4:2",
    "oom-summary:5151:java",
    "oom-kill:5151:java",
  ]);
  const segfault = parsed[4];
  assert(segfault?.kind === "crash");
  assertEquals(
    [segfault.what, segfault.address, segfault.ip, segfault.sp, segfault.object],
    ["segfault", "18", "00007f3a2c1d4e2a", "00007f3a0bffe8d0", "libmilvus_core.so"],
  );
  const summary = parsed[1];
  assert(summary?.kind === "oom-summary");
  assertEquals(summary.constraint, "memcg");
  assertEquals(
    summary.memcg,
    "/kubepods/burstable/pod6f1c1a1e-9a0b-4c3d-8e2f-0123456789ab/4a5b0e1c7d8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829",
  );
  const trap = parsed[6];
  assert(trap?.kind === "crash");
  assertEquals([trap.what, trap.ip], ["trap", "55f0c1a0b14a"]);
  assertEquals(parseMessage("segv[1]: potentially unexpected fatal signal 11."), undefined);
});

async function mkfifo(path: string): Promise<void> {
  const made = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert(made.success, "mkfifo");
}

/**
 * A FIFO standing in for the device: the reader opens it without blocking, then `backlog`
 * is written before the first read, as the kernel's ring holds it; `write` adds more.
 */
async function fifoLog(
  dir: string,
  backlog: string,
  options: Partial<KernelLogOptions> & { files?: KmsgFs } = {},
) {
  const path = `${dir}/kmsg`;
  await mkfifo(path);
  let writer: number | undefined;
  const log = new KernelLog({
    path,
    proc: `${dir}/proc`,
    intervalMs: 20,
    uptimeUs: () => Promise.resolve(START_US),
    now: () => NOW_MS,
    open: (p) => {
      const source = openKmsg(p, options.files);
      writer = fs.openSync(p, "w");
      fs.writeSync(writer, backlog);
      return source;
    },
    ...options,
  });
  const events: KernelEvent[] = [];
  log.events.subscribe((event) => events.push(event));
  const controller = new AbortController();
  const running = log.run(controller.signal);
  return {
    log,
    events,
    write: (text: string) => fs.writeSync(writer!, text),
    async until(what: string, test: () => boolean) {
      const deadline = Date.now() + 10_000;
      while (!test()) {
        if (Date.now() > deadline) throw new Error(`${what}: not within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async stop() {
      controller.abort();
      await running;
      if (writer !== undefined) fs.closeSync(writer);
    },
  };
}

Deno.test("KernelLog counts what is logged after its start, and tells the backlog's crashes", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/proc/31337`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/proc/31337/cgroup`,
      "0::/kubepods/burstable/pod6f1c1a1e-9a0b-4c3d-8e2f-0123456789ab/" + "c".repeat(64) + "\n",
    );
    const kmsg = await fifoLog(dir, BACKLOG);
    try {
      await kmsg.until("the backlog", () => kmsg.events.length === 3);
      assertEquals(kmsg.log.stats().segfaults, 0, "history is not counted");
      // A record split over two writes is one record: the FIFO is a stream.
      const cut = LIVE.indexOf("segfault at 18") + 5;
      kmsg.write(LIVE.slice(0, cut));
      kmsg.write(LIVE.slice(cut));
      await kmsg.until("the live records", () => kmsg.log.stats().oomKills.memcg === 1);
      assertEquals(kmsg.events.map((e) => [e.kind, e.comm, e.live]), [
        ["crash", "recursive", false],
        ["oom-kill", "stress", false],
        ["hung-task", "jbd2/vda1-8", false],
        ["crash", "querynode", true],
        ["crash", "datanode", true],
        ["oom-kill", "mysqld", true],
        ["hung-task", "kworker/u4:2", true],
        ["oom-kill", "java", true],
      ]);
      const stats = kmsg.log.stats();
      assertEquals(stats, {
        records: 18,
        lost: 3,
        overruns: 0,
        oomKills: { none: 1, cpuset: 0, memory_policy: 0, memcg: 1 },
        segfaults: 1,
        hungTasks: 1,
      });
      const backlogOom = kmsg.events[1]!;
      assert(backlogOom.kind === "oom-kill");
      assertEquals(backlogOom.constraint, "memcg");
      assert(backlogOom.memcg?.includes("pod6f1c1a1e-9a0b-4c3d-8e2f-0123456789ab"));
      const querynode = kmsg.events[3]!;
      assert(querynode.kind === "crash");
      // When it was logged: boot (the start's wall clock less the uptime) plus its clock.
      assertEquals(querynode.time.getTime(), NOW_MS - START_US / 1000 + 5000100000 / 1000);
      assertEquals(querynode.cgroup?.includes("/kubepods/burstable/pod6f1c1a1e"), true);
      assertEquals(kmsg.events[0]!.kind === "crash" && kmsg.events[0]!.cgroup, undefined);
      // The counters on /metrics.
      const { families } = await collectNode([kmsgCollector], {
        proc: dir,
        sys: dir,
        dev: dir,
        rootfs: dir,
      }, { kernelLog: kmsg.log });
      const value = (name: string, labels: Record<string, string> = {}) =>
        families.find((f) => f.name === name)?.samples.find((s) =>
          Object.entries(labels).every(([k, v]) => s.labels[k] === v)
        )?.value;
      assertEquals(value("node_kernel_oom_kills_total", { constraint: "memcg" }), 1);
      assertEquals(value("node_kernel_oom_kills_total", { constraint: "cpuset" }), 0);
      assertEquals(value("node_kernel_segfaults_total"), 1);
      assertEquals(value("node_kernel_hung_tasks_total"), 1);
      assertEquals(value("node_kernel_log_records_lost_total"), 3);
      assertEquals(value("node_scrape_collector_success"), 1);
    } finally {
      await kmsg.stop();
    }
  }));

Deno.test("KernelLog goes on after EPIPE (records overwritten) and counts what was lost", () =>
  withTempDir(async (dir) => {
    let reads = 0;
    // The device fails one read with EPIPE when its ring overwrote what was not read yet,
    // then gives the oldest record left: here after the first read.
    const files: KmsgFs = {
      openSync: (path, flags) => fs.openSync(path, flags),
      closeSync: (fd) => fs.closeSync(fd),
      readSync: (fd, buffer, offset, length, position) => {
        if (++reads === 2) {
          throw Object.assign(new Error("EPIPE: broken pipe, read"), {
            code: "EPIPE",
            errno: -32,
          });
        }
        return fs.readSync(fd, buffer, offset, length, position);
      },
    };
    const first = "6,10,5000000001,-;one\n";
    const kmsg = await fifoLog(dir, first, { files });
    try {
      await kmsg.until("the first record", () => kmsg.log.stats().records === 1);
      kmsg.write("6,40,5000000002,-;a[7]: segfault at 0 ip 1 sp 2 error 4 in a[400000+1000]\n");
      await kmsg.until("the record after the gap", () => kmsg.log.stats().records === 2);
      const stats = kmsg.log.stats();
      assertEquals([stats.overruns, stats.lost, stats.segfaults], [1, 29, 1]);
    } finally {
      await kmsg.stop();
    }
  }));

Deno.test("KernelLog without the device says why once; the collector fails alone", async () => {
  const warnings: unknown[] = [];
  const log = new KernelLog({
    path: "/nowhere/kmsg",
    proc: "/proc",
    open: () => {
      throw Object.assign(new Error("EPERM: operation not permitted, open"), { code: "EPERM" });
    },
    log: { info() {}, warn: (_message, fields) => warnings.push(fields) },
  });
  const controller = new AbortController();
  await log.run(controller.signal);
  await log.run(controller.signal);
  const reason =
    'Cannot read "/nowhere/kmsg": permission denied (needs CAP_SYSLOG, and the device in a container)';
  assertEquals(log.unavailable(), reason);
  assertEquals(warnings, [{ reason }]);
  const paths = { proc: "/x", sys: "/x", dev: "/x", rootfs: "/x" };
  const { families, problems } = await collectNode([kmsgCollector], paths, { kernelLog: log });
  assertEquals(problems.get("collector kmsg"), reason);
  assertEquals(families.map((f) => f.name), [
    "node_scrape_collector_duration_seconds",
    "node_scrape_collector_success",
  ]);
  const alone = await collectNode([kmsgCollector], paths);
  assertEquals(
    alone.problems.get("collector kmsg"),
    "The kernel log is read by the daemon only (continuously)",
  );
});
