// deno-lint-ignore-file no-console
/**
 * Compares `agent` with the tools people would otherwise run, in one run, as whole
 * processes: wall time and peak RSS measured with GNU time, medians over several runs
 * that alternate between the commands compared, and the ratio ours/peer.
 *
 * - a. `agent analyze core --no-gdb -o json` vs `eu-readelf -n` on a 1 GiB core and an
 *   8 GiB sparse core (targets: under 200 ms and 100 MB whatever the core size);
 * - b. `agent score` on 200 small cores, with and without gdb, vs `gdb -nx -batch -ex bt`
 *   run on each core in turn (cores per second);
 * - c. `agent analyze core -o json` with gdb vs a bare `gdb -nx -batch -ex bt` on the 1 GiB
 *   core (target: under 20% on top of gdb);
 * - start-up: an empty Deno script, `agent version`, and the time each import takes.
 *
 * Prints markdown tables and writes the numbers to `bench/.cores/results.json`.
 *
 * Run: `deno task bench:compare [--runs N] [--only a,b,c,startup]`, i.e.
 * `deno run -q --allow-read --allow-write --allow-run --allow-env --allow-sys bench/compare.ts`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { gdbArguments } from "../lib/core/gdb.ts";
import { type BenchCores, CORES_DIR, makeCores } from "./make_cores.ts";
import {
  type GitState,
  type Measured,
  renderMarkdown,
  type Results,
  type Row,
  type Sample,
  type StartupBreakdown,
  type Subject,
} from "./_compare_report.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const GNU_TIME = "/usr/bin/time";
const decoder = new TextDecoder();

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function commandLine(argv: string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

/** Shortens absolute paths under the project for display. */
function display(text: string): string {
  return text.replaceAll(`${ROOT}/`, "").replaceAll(Deno.execPath(), "deno");
}

function run(argv: string[], stdout: "piped" | "null" = "piped"): Promise<Deno.CommandOutput> {
  return new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd: ROOT,
    stdin: "null",
    stdout,
    stderr: "piped",
    // No debuginfod downloads for gdb, ours or the peers'; no colors in Deno's messages.
    env: { NO_COLOR: "1", DEBUGINFOD_URLS: "" },
  }).output();
}

/** Whether `program` can be started (found in PATH). */
async function available(program: string, args: string[]): Promise<boolean> {
  try {
    await run([program, ...args]);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Fails with a clear message unless GNU time is at /usr/bin/time. */
async function requireGnuTime(): Promise<void> {
  let out: Deno.CommandOutput | undefined;
  try {
    out = await run([GNU_TIME, "--version"]);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const text = out ? decoder.decode(out.stdout) + decoder.decode(out.stderr) : "";
  if (!out || !/GNU/i.test(text)) {
    console.error(
      `${GNU_TIME} is ${out ? "not GNU time" : "missing"}: install GNU time ` +
        "(Debian package `time`: apt-get install time), which measures wall time and peak RSS.",
    );
    Deno.exit(1);
  }
}

/** Runs `subject` once under GNU time. */
async function measureOnce(
  subject: Subject,
  timeFile: string,
  capture: boolean,
): Promise<{ sample: Sample; stdout: string }> {
  const started = performance.now();
  const out = await run(
    [GNU_TIME, "-f", "%e %M", "-o", timeFile, "--", ...subject.argv],
    capture ? "piped" : "null",
  );
  const wallMs = performance.now() - started;
  if (!out.success) {
    throw new Error(
      `${display(commandLine(subject.argv))} exited with code ${out.code}:\n` +
        display(decoder.decode(out.stderr)).slice(0, 4000),
    );
  }
  // GNU time writes "Command exited with non-zero status N" before the format on failure.
  const line = (await Deno.readTextFile(timeFile)).trim().split("\n").at(-1) ?? "";
  const match = /^(\d+(?:\.\d+)?) (\d+)$/.exec(line);
  if (!match) throw new Error(`cannot read GNU time's output "${line}"`);
  return {
    sample: { wallMs, elapsedS: Number(match[1]), maxRssKiB: Number(match[2]) },
    stdout: capture ? decoder.decode(out.stdout) : "",
  };
}

/**
 * Measures the subjects together: one warm-up run each (whose output is checked), then
 * `runs` rounds in which every subject runs once, the order rotating from round to round
 * so that none always runs right after the same neighbour.
 */
async function measureGroup(
  label: string,
  subjects: Subject[],
  runs: number,
  timeFile: string,
): Promise<Measured[]> {
  const samples: Sample[][] = subjects.map(() => []);
  for (const subject of subjects) {
    console.error(`${label}: warm-up ${subject.name}`);
    const { stdout } = await measureOnce(subject, timeFile, true);
    try {
      subject.check?.(stdout);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`${subject.name}: unexpected output (${reason}):\n${stdout.slice(0, 2000)}`);
    }
  }
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < subjects.length; k++) {
      const i = (round + k) % subjects.length;
      const { sample } = await measureOnce(subjects[i]!, timeFile, false);
      samples[i]!.push(sample);
    }
    console.error(`${label}: round ${round + 1}/${runs}`);
  }
  return subjects.map((subject, i) => ({
    name: subject.name,
    command: display(commandLine(subject.argv)),
    wallMs: median(samples[i]!.map((s) => s.wallMs)),
    peakRssMB: median(samples[i]!.map((s) => (s.maxRssKiB * 1024) / 1e6)),
    samples: samples[i]!,
  }));
}

function agent(...args: string[]): string[] {
  return [Deno.execPath(), "run", "-q", "-P=agent", "--config", `${ROOT}/deno.json`, "main.ts"]
    .concat(args);
}

function compareRow(
  id: string,
  what: string,
  ours: Measured,
  peer: Measured | undefined,
): Row {
  const row: Row = { id, what, ours, targets: [], notes: [] };
  if (peer) {
    row.peer = peer;
    row.wallRatio = ours.wallMs / peer.wallMs;
    row.rssRatio = ours.peakRssMB / peer.peakRssMB;
  }
  return row;
}

interface JsonAnalysis {
  coreBytes: number;
  signal: { name: string } | null;
  gdb: { used: boolean };
  stackTrace: { function?: string }[];
}

function checkAnalysis(gdb: boolean, signal: string, minCoreBytes: number) {
  return (stdout: string) => {
    const a = JSON.parse(stdout) as JsonAnalysis;
    if (a.gdb.used !== gdb) throw new Error(`gdb.used is ${a.gdb.used}`);
    if (a.signal?.name !== signal) throw new Error(`signal ${a.signal?.name}`);
    if (a.coreBytes < minCoreBytes) throw new Error(`coreBytes ${a.coreBytes}`);
    if (gdb && !a.stackTrace.some((f) => f.function === "main")) {
      throw new Error("no main() in the stack trace");
    }
  };
}

function checkReadelf(stdout: string): void {
  if (!/PRSTATUS/.test(stdout) || !/SIGINFO/.test(stdout)) throw new Error("no core notes");
}

function countMatches(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, "gm"))?.length ?? 0;
}

async function analyzeNotesRows(
  cores: BenchCores,
  peerReadelf: boolean,
  runs: number,
  timeFile: string,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (
    const [id, label, core] of [["a1", "1 GiB core", cores.dense], [
      "a2",
      "8 GiB sparse core",
      cores.sparse,
    ]] as const
  ) {
    if (!core) continue;
    const subjects: Subject[] = [{
      name: "agent analyze core --no-gdb -o json",
      argv: agent("analyze", "core", core.core, "--no-gdb", "-o", "json"),
      check: checkAnalysis(false, "SIGABRT", core.mib * 2 ** 20),
    }];
    if (peerReadelf) {
      subjects.push({
        name: "eu-readelf -n",
        argv: ["eu-readelf", "-n", core.core],
        check: checkReadelf,
      });
    }
    const [ours, peer] = await measureGroup(`a. notes, ${label}`, subjects, runs, timeFile);
    const row = compareRow(id, `analyze --no-gdb, ${label}`, ours!, peer);
    row.targets.push(
      { text: "wall < 200 ms", met: ours!.wallMs < 200 },
      { text: "peak RSS < 100 MB", met: ours!.peakRssMB < 100 },
    );
    rows.push(row);
  }
  return rows;
}

async function scoreRows(
  cores: BenchCores,
  haveGdb: boolean,
  runs: number,
  timeFile: string,
): Promise<Row[]> {
  const small = cores.small!;
  const n = small.cores.length;
  const scoreCheck = (gdb: boolean) => (stdout: string) => {
    const results = JSON.parse(stdout) as { error?: string; crashReason: string | null }[];
    if (results.length !== n) throw new Error(`${results.length} results`);
    const bad = results.find((r) => r.error !== undefined);
    if (bad) throw new Error(bad.error);
    if (gdb && !results.every((r) => r.crashReason?.includes("deref()"))) {
      throw new Error("a crash reason does not name deref()");
    }
  };
  const subjects: Subject[] = [{
    name: "agent score --no-gdb",
    argv: agent("score", ...small.cores, "--no-gdb", "-o", "json"),
    check: scoreCheck(false),
  }];
  if (haveGdb) {
    subjects.push(
      {
        name: "agent score (gdb, -j 2 default)",
        argv: agent("score", ...small.cores, "-o", "json"),
        check: scoreCheck(true),
      },
      {
        name: "agent score (gdb, -j 1)",
        argv: agent("score", ...small.cores, "-j", "1", "-o", "json"),
        check: scoreCheck(true),
      },
      {
        name: `gdb -nx -batch -ex bt, ${n} cores in turn`,
        argv: [
          "sh",
          "-c",
          'exe=$1; shift; for core; do gdb -nx -batch -ex bt "$exe" "$core" 2>/dev/null; done',
          "sh",
          small.exe,
          ...small.cores,
        ],
        check: (stdout) => {
          // gdb prints frame #0 once more when it loads the core: count the callers.
          const traces = countMatches(stdout, /^#1 .*\bmain \(/);
          if (traces !== n) throw new Error(`${traces} backtraces of ${n} reach main()`);
        },
      },
    );
  }
  const measured = await measureGroup(`b. score ${n} cores`, subjects, runs, timeFile);
  const peer = haveGdb ? measured.at(-1) : undefined;
  const ours = haveGdb ? measured.slice(0, -1) : measured;
  return ours.map((m, i) => {
    const row = compareRow(`b${i + 1}`, `${m.name.replace("agent ", "")}, ${n} cores`, m, peer);
    row.coresPerSecond = { ours: n / (m.wallMs / 1000) };
    if (peer) row.coresPerSecond.peer = n / (peer.wallMs / 1000);
    return row;
  });
}

async function fullAnalysisRows(
  cores: BenchCores,
  runs: number,
  timeFile: string,
): Promise<Row[]> {
  const core = cores.dense!;
  const gdbCheck = (stdout: string) => {
    if (!/^#\d+ .*\bmain \(/m.test(stdout)) throw new Error("no main() in the backtrace");
  };
  const [ours, peer, agentsGdb] = await measureGroup(
    "c. full analysis, 1 GiB core",
    [
      {
        name: "agent analyze core -o json",
        argv: agent("analyze", "core", core.core, "-o", "json"),
        check: checkAnalysis(true, "SIGABRT", core.mib * 2 ** 20),
      },
      {
        name: "gdb -nx -batch -ex bt",
        argv: ["gdb", "-nx", "-batch", "-ex", "bt", core.exe, core.core],
        check: gdbCheck,
      },
      {
        name: "gdb with the agent's commands",
        argv: ["gdb", ...gdbArguments(core.exe, core.core)],
        check: gdbCheck,
      },
    ],
    runs,
    timeFile,
  );
  const row = compareRow("c1", "analyze with gdb, 1 GiB core", ours!, peer);
  row.overheadPct = (ours!.wallMs / peer!.wallMs - 1) * 100;
  row.targets.push({ text: "overhead on gdb < 20%", met: row.overheadPct < 20 });
  const detail = compareRow("c2", "gdb alone, the agent's commands, 1 GiB core", agentsGdb!, peer);
  detail.overheadPct = (agentsGdb!.wallMs / peer!.wallMs - 1) * 100;
  detail.notes.push("what the agent asks gdb for, without Deno: explains part of c1");
  return [row, detail];
}

/** The npm packages `main.ts` imports, statically or only through `import()`. */
async function npmImports(): Promise<{ static: string[]; dynamic: string[] }> {
  const out = await run([
    Deno.execPath(),
    "info",
    "--json",
    "--config",
    `${ROOT}/deno.json`,
    "main.ts",
  ]);
  if (!out.success) throw new Error(`deno info failed: ${decoder.decode(out.stderr)}`);
  interface Dependency {
    specifier: string;
    code?: { specifier: string };
    isDynamic?: boolean;
  }
  const info = JSON.parse(decoder.decode(out.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: Dependency[] }[];
  };
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const found = new Map<string, boolean>();
  const seen = new Map<string, boolean>();
  const queue: [string, boolean][] = info.roots.map((root) => [root, false]);
  while (queue.length > 0) {
    const [specifier, dynamic] = queue.shift()!;
    if (seen.has(specifier) && (dynamic || !seen.get(specifier))) continue;
    seen.set(specifier, dynamic);
    for (const dep of modules.get(specifier)?.dependencies ?? []) {
      const resolved = dep.code?.specifier;
      if (!resolved) continue;
      const viaImport = dynamic || dep.isDynamic === true;
      if (resolved.startsWith("npm:")) {
        found.set(dep.specifier, (found.get(dep.specifier) ?? true) && viaImport);
      } else if (resolved.startsWith("file:")) {
        queue.push([resolved, viaImport]);
      }
    }
  }
  const names = [...found.keys()].sort();
  return {
    static: names.filter((n) => !found.get(n)),
    dynamic: names.filter((n) => found.get(n)),
  };
}

/**
 * Start-up, taken apart by whole-process runs of scripts that load more and more of what
 * `agent version` loads: nothing, the npm packages of the CLI, the whole CLI module graph.
 */
async function startupRows(
  runs: number,
  scratch: string,
  timeFile: string,
): Promise<{ rows: Row[]; startup: StartupBreakdown }> {
  const script = async (name: string, text: string) => {
    const path = `${scratch}/${name}`;
    await Deno.writeTextFile(path, text);
    return [Deno.execPath(), "run", "-q", "-P=agent", "--config", `${ROOT}/deno.json`, path];
  };
  const npm = await npmImports();
  const packages = [...npm.static, ...npm.dynamic];
  const alone: Subject[] = [];
  for (const name of packages) {
    alone.push({
      name: `deno run (imports ${name} alone)`,
      argv: await script(`${name.replace(/\W/g, "_")}.ts`, `import "${name}";\n`),
    });
  }
  const [floor, bare, npmOnly, graph, version, ...single] = await measureGroup(
    "start-up",
    [
      { name: "/usr/bin/time true", argv: ["true"] },
      { name: "deno run (empty script)", argv: await script("empty.ts", "export {};\n") },
      {
        name: "deno run (imports the npm packages main.ts imports statically)",
        argv: await script("npm.ts", npm.static.map((n) => `import "${n}";\n`).join("")),
      },
      {
        name: "deno run (imports cli/mod.ts)",
        argv: await script("graph.ts", `import "${new URL("../cli/mod.ts", import.meta.url)}";\n`),
      },
      {
        name: "agent version",
        argv: agent("version"),
        check: (stdout) => {
          if (!stdout.startsWith("agent ")) throw new Error("no version line");
        },
      },
      ...alone,
    ],
    runs,
    timeFile,
  );
  const rows = [
    compareRow("s0", "harness floor: GNU time running `true`", floor!, undefined),
    compareRow("s1", "start-up: deno run, empty script", bare!, undefined),
    compareRow("s2", "start-up: agent version", version!, bare),
  ];
  rows[0]!.notes.push("the cost of measuring, included in every wall time below");
  rows[2]!.overheadPct = (version!.wallMs / bare!.wallMs - 1) * 100;
  return {
    rows,
    startup: {
      runtimeMs: bare!.wallMs,
      npmStatic: npm.static,
      npmDynamic: npm.dynamic,
      npmMs: npmOnly!.wallMs - bare!.wallMs,
      npmAloneMs: Object.fromEntries(
        packages.map((name, i) => [name, single[i]!.wallMs - bare!.wallMs]),
      ),
      ownModulesMs: graph!.wallMs - npmOnly!.wallMs,
      runMs: version!.wallMs - graph!.wallMs,
      versionMs: version!.wallMs,
      rssMB: {
        runtime: bare!.peakRssMB,
        npm: npmOnly!.peakRssMB,
        graph: graph!.peakRssMB,
        version: version!.peakRssMB,
      },
    },
  };
}

async function gitState(): Promise<GitState> {
  try {
    const head = await run(["git", "rev-parse", "HEAD"]);
    const status = await run([
      "git",
      "status",
      "--porcelain",
      "--",
      "main.ts",
      "cli",
      "lib",
      "deno.json",
      "deno.lock",
    ]);
    return {
      commit: head.success ? decoder.decode(head.stdout).trim() : null,
      changes: decoder.decode(status.stdout).split("\n").filter((l) => l.trim()),
    };
  } catch {
    return { commit: null, changes: [] };
  }
}

async function firstLine(argv: string[]): Promise<string | null> {
  try {
    const out = await run(argv);
    return decoder.decode(out.stdout).split("\n")[0]?.trim() || null;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "5" },
      only: { type: "string", default: "startup,a,b,c" },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs needs a whole number ≥ 1");
  const only = new Set(values.only.split(","));

  await requireGnuTime();
  const haveReadelf = await available("eu-readelf", ["--version"]);
  const haveGdb = await available("gdb", ["--version"]);
  const cores = await makeCores();
  const skipped = [...cores.skipped];
  if (!haveReadelf) skipped.push("eu-readelf is not installed (Debian package elfutils)");
  if (!haveGdb) skipped.push("gdb is not installed (Debian package gdb): no gdb measurements");

  const gitStart = await gitState();
  const scratch = await Deno.makeTempDir({ prefix: "agent-bench-" });
  const timeFile = `${scratch}/time.txt`;
  const results: Results = {
    date: new Date().toISOString(),
    machine: {
      cpus: navigator.hardwareConcurrency,
      memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
      kernel: Deno.osRelease(),
      deno: Deno.version.deno,
      gdb: haveGdb ? await firstLine(["gdb", "--version"]) : null,
    },
    git: { start: gitStart },
    runs,
    cores: {},
    rows: [],
    skipped,
  };
  for (const [key, core] of [["dense", cores.dense], ["sparse", cores.sparse]] as const) {
    if (core) {
      results.cores[key] = {
        path: display(core.core),
        sizeBytes: core.sizeBytes,
        diskBytes: core.diskBytes,
      };
    }
  }
  if (cores.small) {
    results.cores.small = { count: cores.small.cores.length, sizeBytes: cores.small.sizeBytes };
  }

  try {
    if (only.has("startup")) {
      const startup = await startupRows(runs, scratch, timeFile);
      results.rows.push(...startup.rows);
      results.startup = startup.startup;
    }
    if (only.has("a")) {
      results.rows.push(...await analyzeNotesRows(cores, haveReadelf, runs, timeFile));
    }
    if (only.has("b") && cores.small) {
      results.rows.push(...await scoreRows(cores, haveGdb, runs, timeFile));
    }
    if (only.has("c") && cores.dense && haveGdb) {
      results.rows.push(...await fullAnalysisRows(cores, runs, timeFile));
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  results.git.end = await gitState();

  const file = `${CORES_DIR}/results.json`;
  await Deno.writeTextFile(file, JSON.stringify(results, null, 2) + "\n");
  console.log(renderMarkdown(results));
  console.log(`\nResults written to ${display(file)}`);
}

if (import.meta.main) await main();
