/**
 * `agent stats [COLLECTOR...] [-o table|json|prom] [--interval D] [--count N]`: vmstat,
 * iostat, df and top in one, from the node collectors the daemon serves.
 *
 * @module
 */
import {
  Argument,
  Command,
  type CommandUnknownOpts,
  InvalidArgumentError,
  Option,
} from "@commander-js/extra-typings";
import { formatBytes, parseDuration } from "../lib/units.ts";
import { escapeJsonControl } from "../lib/escape.ts";
import { UnavailableError } from "../lib/errors.ts";
import type { NodeCollector, Snapshot, StatsReport } from "../lib/node/mod.ts";
import type { CliContext } from "./_context.ts";
import { examples, helpSections, lateParts } from "./_help.ts";
import { print, renderTable } from "./output.ts";
import { later } from "./_later.ts";

/** The widest line of the table output. */
export const TABLE_WIDTH = 120;

/** Processes collected for a report: every one, so that the report ranks them itself. */
const EVERY_PROCESS = 1_000_000;

function interval(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 100 || ms > 3_600_000) {
    throw new InvalidArgumentError('expected a duration from "100ms" to "1h", like "1s"');
  }
  return ms;
}

function count(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > 1_000_000) {
    throw new InvalidArgumentError("expected a whole number from 1");
  }
  return n;
}

/** `--help`'s list of collectors: what each reads and needs, from its capabilities. */
export function collectorsHelp(
  collectors: readonly NodeCollector[],
): [name: string, description: string][] {
  return collectors.map(({ name, description, capabilities: c }) => {
    const optional = c.optional?.length ? ` (optional: ${c.optional.join(", ")})` : "";
    const needs = [
      ...(c.privilege ? [c.privilege] : []),
      ...(c.minKernel ? [`Linux ${c.minKernel} or later`] : []),
    ];
    return [
      name,
      `${description}; reads ${c.reads.join(", ")}${optional}${
        needs.length > 0 ? `; needs ${needs.join(", ")}` : ""
      }`,
    ];
  });
}

/** Builds the `stats` command. */
export function statsCommand(context: CliContext): CommandUnknownOpts {
  const command = new Command("stats")
    .summary("Show the node's CPU, memory, disks, network, filesystems and top processes")
    .description(
      "Show this node's performance from the collectors the daemon serves on /metrics:\n" +
        "CPU time per mode, load, memory and swap, pressure, disk operations, throughput,\n" +
        "await and utilization, network traffic and errors, TCP, filesystem use and the top\n" +
        "processes by CPU and memory with their pods. Rates come from two collections\n" +
        "--interval apart; --count N prints N reports --interval apart. -o json prints one\n" +
        "JSON object a line per report, -o prom the exposition text of each collection.\n" +
        "The host's trees are node.procPath, node.sysPath and node.rootfsPath (HOST_PROC,\n" +
        "HOST_SYS, HOST_ROOT); node.topProcesses processes are shown by CPU and by memory.\n" +
        "Exit code 3 when none of the collectors can read its sources.",
    )
    // Its choices are the collectors' names, set with the help's list of collectors below.
    .addArgument(new Argument("[collector...]", "collectors to run (default: all)"))
    .addOption(
      new Option("-o, --output <format>", "output format").choices(
        ["table", "json", "prom"] as const,
      ).default("table"),
    )
    .addOption(
      new Option("--interval <duration>", "time between collections").argParser(interval)
        .default(1000, "1s"),
    )
    .addOption(
      new Option("--count <n>", "reports to print").argParser(count).default(1),
    )
    .action(async (names, options) => {
      const config = await context.config();
      const { buildReport, collectNode, selectCollectors } = await later<
        typeof import("../lib/node/mod.ts")
      >("../lib/node/mod.ts");
      const collectors = selectCollectors(names.length === 0 ? ["all"] : names);
      const paths = {
        proc: config.node.procPath,
        sys: config.node.sysPath,
        dev: config.node.devPath,
        rootfs: config.node.rootfsPath,
      };
      const settings = {
        // The exposition as the daemon serves it; a report ranks every process itself.
        topProcesses: options.output === "prom" ? config.node.topProcesses : EVERY_PROCESS,
        cpuFlags: config.node.cpuFlags,
      };
      const warned = new Set<string>();
      const sample = async (): Promise<Snapshot> => {
        const at = performance.now();
        const { families, problems } = await collectNode(collectors, paths, settings);
        for (const [source, reason] of problems) {
          if (warned.has(source)) continue;
          warned.add(source);
          context.log().warn("node collector problem", { source, reason });
        }
        const failed = families.find((f) => f.name === "node_scrape_collector_success")
          ?.samples.filter((s) => s.value === 0).length;
        if (failed === collectors.length) {
          throw new UnavailableError(
            `Cannot collect node stats: no collector could read its sources (${
              [...problems].map(([source, reason]) => `${source}: ${reason}`).join("; ")
            })`,
          );
        }
        return { at, families };
      };
      const started = performance.now();
      const { serializePrometheusText } = await later<typeof import("../lib/prom/mod.ts")>(
        "../lib/prom/mod.ts",
      );
      let previous = await sample();
      for (let n = 1; n <= options.count; n++) {
        // On a fixed schedule from the first collection, so that reports do not drift.
        const wait = started + n * options.interval - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const current = await sample();
        if (options.output === "prom") {
          await print(
            (n > 1 ? "\n" : "") + serializePrometheusText(current.families).trimEnd(),
          );
        } else {
          const report = buildReport(previous, current, {
            topProcesses: config.node.topProcesses,
          });
          await print(
            options.output === "json"
              ? escapeJsonControl(JSON.stringify(report))
              : (n > 1 ? "\n" : "") + renderReport(report),
          );
        }
        previous = current;
      }
    });
  // The collectors (lib/node) load only for this command: run, or its help printed.
  lateParts(command, async () => {
    const { NODE_COLLECTOR_NAMES, NODE_COLLECTORS } = await later<
      typeof import("../lib/node/mod.ts")
    >("../lib/node/mod.ts");
    command.registeredArguments[0]!.choices(["all", ...NODE_COLLECTOR_NAMES]);
    helpSections(command, ["Collectors (default: all of them)", collectorsHelp(NODE_COLLECTORS)]);
  });
  return examples(
    command,
    ["The node's CPU, memory, disks, network, filesystems and top processes now", "agent stats"],
    [
      "Disks and network every 5 seconds, 12 times",
      "agent stats disk network --interval 5s --count 12",
    ],
    ["The processes using most CPU and memory, as JSON", "agent stats processes -o json"],
    [
      "The CPU collector's exposition, reading a host's /proc mounted elsewhere",
      "HOST_PROC=/host/proc agent stats cpu -o prom",
    ],
  );
}

const fixed = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined ? "-" : value.toFixed(digits);
const bytes = (value: number | null | undefined) =>
  value === null || value === undefined ? "-" : formatBytes(Math.round(value));
const perSecond = (value: number | null | undefined) =>
  value === null || value === undefined ? "-" : `${formatBytes(Math.round(value))}/s`;

/**
 * A table whose last column is cut (with "…") so that no line is wider than
 * {@linkcode TABLE_WIDTH}; mount points and pod names can be long.
 */
export function fitTable(
  headers: string[],
  rows: string[][],
  options: { middle?: boolean } = {},
): string {
  const last = headers.length - 1;
  const widths = headers.slice(0, last).map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))
  );
  const room = Math.max(8, TABLE_WIDTH - widths.reduce((sum, w) => sum + w + 3, 0));
  const half = Math.floor((room - 1) / 2);
  // A path keeps both ends (a kubelet volume's pod and its name), other text its start.
  const cut = (text: string) =>
    text.length <= room
      ? text
      : options.middle
      ? `${text.slice(0, room - 1 - half)}…${text.slice(text.length - half)}`
      : `${text.slice(0, room - 1)}…`;
  return renderTable(headers, rows.map((row) => row.map((c, i) => i === last ? cut(c) : c)));
}

/** Words of `text` in lines of at most {@linkcode TABLE_WIDTH}, the next ones indented. */
function wrap(text: string): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > TABLE_WIDTH) {
      out.push(line);
      line = `       ${word}`;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  return [...out, line];
}

/** The table of one report. */
export function renderReport(report: StatsReport): string {
  const parts: string[] = [];
  const model = report.cpuModel;
  const heading = [
    `${report.time}, over ${report.intervalSeconds.toFixed(2)} s` +
    (model ? `; ${model.cpus} CPUs ${model.model}` : ""),
  ];
  if (model?.flags.length) heading.push(...wrap(`flags: ${model.flags.join(" ")}`));
  parts.push(heading.map((line) => line.slice(0, TABLE_WIDTH)).join("\n"));
  if (report.cpu) {
    const modes = ["user", "nice", "system", "iowait", "irq", "softirq", "steal", "idle"];
    parts.push(fitTable(
      ["CPU%", ...modes.map((m) => m.toUpperCase())],
      [[`${report.cpu.cpus} CPUs`, ...modes.map((m) => fixed(report.cpu!.percent[m]))]],
    ));
  }
  if (report.load) {
    const l = report.load;
    parts.push(fitTable(
      ["LOAD 1M", "5M", "15M", "RUNNING", "BLOCKED", "CTXSW/S", "INTR/S", "FORKS/S"],
      [[
        fixed(l.load1, 2),
        fixed(l.load5, 2),
        fixed(l.load15, 2),
        fixed(l.running, 0),
        fixed(l.blocked, 0),
        fixed(l.contextSwitchesPerSecond, 0),
        fixed(l.interruptsPerSecond, 0),
        fixed(l.forksPerSecond),
      ]],
    ));
  }
  if (report.memory) {
    const m = report.memory;
    parts.push(fitTable(
      ["MEMORY", "USED", "AVAILABLE", "SWAP", "SWAP USED", "MAJFLT/S", "SWPIN/S", "SWPOUT/S"],
      [[
        bytes(m.totalBytes),
        bytes(m.usedBytes),
        bytes(m.availableBytes),
        bytes(m.swapTotalBytes),
        bytes(m.swapUsedBytes),
        fixed(m.majorFaultsPerSecond),
        fixed(m.swapInPagesPerSecond),
        fixed(m.swapOutPagesPerSecond),
      ]],
    ));
  }
  if (report.pressure) {
    const p = report.pressure;
    parts.push(fitTable(
      ["PRESSURE% CPU", "MEMORY SOME", "MEMORY FULL", "IO SOME", "IO FULL"],
      [[
        p.cpuSomePercent,
        p.memorySomePercent,
        p.memoryFullPercent,
        p.ioSomePercent,
        p.ioFullPercent,
      ]
        .map((v) => fixed(v))],
    ));
  }
  if (report.numa?.length) {
    parts.push(fitTable(
      ["NUMA NODE", "TOTAL", "FREE"],
      report.numa.map((n) => [n.node, bytes(n.totalBytes), bytes(n.freeBytes)]),
    ));
  }
  if (report.disks) {
    parts.push(fitTable(
      ["DISK", "R/S", "W/S", "READ/S", "WRITE/S", "R_AWAIT", "W_AWAIT", "AQU-SZ", "%UTIL"],
      report.disks.map((d) => [
        d.device,
        fixed(d.readsPerSecond),
        fixed(d.writesPerSecond),
        perSecond(d.readBytesPerSecond),
        perSecond(d.writeBytesPerSecond),
        fixed(d.readAwaitMs, 2),
        fixed(d.writeAwaitMs, 2),
        fixed(d.queueSize, 2),
        fixed(d.utilizationPercent),
      ]),
    ));
  }
  if (report.network) {
    parts.push(fitTable(
      ["NETWORK", "STATE", "RX/S", "TX/S", "RX PKT/S", "TX PKT/S", "ERRS/S", "DROPS/S"],
      report.network.map((n) => [
        n.device,
        n.operstate ?? "-",
        perSecond(n.receiveBytesPerSecond),
        perSecond(n.transmitBytesPerSecond),
        fixed(n.receivePacketsPerSecond),
        fixed(n.transmitPacketsPerSecond),
        fixed(n.errorsPerSecond),
        fixed(n.dropsPerSecond),
      ]),
    ));
  }
  if (report.tcp) {
    const t = report.tcp;
    parts.push(fitTable(
      ["TCP RETRANS/S", "LISTEN DROPS/S", "IN ERRS/S", "CONNECTIONS"],
      [[
        fixed(t.retransmitsPerSecond),
        fixed(t.listenDropsPerSecond),
        fixed(t.inErrorsPerSecond),
        Object.entries(t.states).map(([state, n]) => `${state} ${n}`).join(", ") || "-",
      ]],
    ));
  }
  if (report.filesystems) {
    parts.push(fitTable(
      ["FILESYSTEM", "TYPE", "SIZE", "USED", "AVAIL", "USE%", "IUSE%", "RO", "MOUNTED ON"],
      report.filesystems.map((f) => [
        f.device,
        f.fstype,
        bytes(f.sizeBytes),
        bytes(f.usedBytes),
        bytes(f.availableBytes),
        String(f.usePercent),
        f.inodesUsePercent === null ? "-" : String(f.inodesUsePercent),
        f.readonly ? "ro" : "rw",
        f.mountpoint,
      ]).map((
        row,
      ) => [row[0]!.length > 24 ? `${row[0]!.slice(0, 23)}…` : row[0]!, ...row.slice(1)]),
      { middle: true },
    ));
  }
  if (report.processes) {
    const p = report.processes;
    const states = Object.entries(p.states).map(([s, n]) => `${s} ${n}`).join(", ");
    parts.push(fitTable(
      ["PROCESSES", "THREADS", "STATES"],
      [[fixed(p.total, 0), fixed(p.threads, 0), states || "-"]],
    ));
    if (p.top.length > 0) {
      parts.push(fitTable(
        ["PID", "COMM", "CPU%", "RSS", "POD"],
        p.top.map((t) => [
          String(t.pid),
          t.comm.length > 24 ? `${t.comm.slice(0, 23)}…` : t.comm,
          fixed(t.cpuPercent),
          bytes(t.residentBytes),
          t.pod
            ? `${t.namespace}/${t.pod}${t.container ? `/${t.container}` : ""}`
            : t.podUid
            ? `uid ${t.podUid}`
            : "",
        ]),
      ));
    }
  }
  return parts.join("\n\n");
}
