/**
 * The results of `bench/compare.ts` and their rendering as markdown tables.
 *
 * @module
 */

/** One measured run of a command. */
export interface Sample {
  /** Wall time measured around the process (GNU time's `%e` only has 10 ms steps). */
  wallMs: number;
  /** GNU time's `%e`, in seconds. */
  elapsedS: number;
  /** GNU time's `%M`: peak RSS of the process and the children it waited for, in KiB. */
  maxRssKiB: number;
}

/** A command under measurement. */
export interface Subject {
  /** Short name shown in the tables. */
  name: string;
  /** The command line, program first. */
  argv: string[];
  /** Validates the output of the warm-up run; throws when the command did not do its job. */
  check?: (stdout: string) => void;
}

/** Medians of the runs of one subject. */
export interface Measured {
  name: string;
  command: string;
  wallMs: number;
  peakRssMB: number;
  samples: Sample[];
}

/** One line of the results table. */
export interface Row {
  id: string;
  what: string;
  ours: Measured;
  peer?: Measured;
  /** ours/peer of the median wall times. */
  wallRatio?: number;
  /** ours/peer of the median peak RSS. */
  rssRatio?: number;
  /** Cores per second, for the score rows. */
  coresPerSecond?: { ours: number; peer?: number };
  /** Wall time added on top of the peer, in percent. */
  overheadPct?: number;
  targets: { text: string; met: boolean }[];
  notes: string[];
}

/** Where the start-up time of `agent version` goes. */
export interface StartupBreakdown {
  /** Median wall time of `deno run` on an empty script: the runtime itself. */
  runtimeMs: number;
  /** npm packages `main.ts` imports statically (loaded at every start). */
  npmStatic: string[];
  /** npm packages imported only with `import()` (loaded when needed). */
  npmDynamic: string[];
  /** Added by importing the static npm packages together. */
  npmMs: number;
  /** Added by importing each npm package, static or dynamic, alone. */
  npmAloneMs: Record<string, number>;
  /** Added by importing the project's own modules (`cli/mod.ts` and what it imports). */
  ownModulesMs: number;
  /** Added by running the command: building the commands, parsing, printing, exiting. */
  runMs: number;
  /** Median wall time of `agent version`. */
  versionMs: number;
  /** Median peak RSS at each step. */
  rssMB: { runtime: number; npm: number; graph: number; version: number };
}

/** The commit measured, and whether the CLI's sources differed from it. */
export interface GitState {
  commit: string | null;
  /** `git status --porcelain` of main.ts, cli/, lib/, deno.json, deno.lock. */
  changes: string[];
}

/** Everything one run of this script measured. */
export interface Results {
  date: string;
  /** The sources at the start and at the end of the run: they should be the same. */
  git: { start: GitState; end?: GitState };
  machine: { cpus: number; memoryGiB: number; kernel: string; deno: string; gdb: string | null };
  runs: number;
  cores: {
    dense?: { path: string; sizeBytes: number; diskBytes: number };
    sparse?: { path: string; sizeBytes: number; diskBytes: number };
    small?: { count: number; sizeBytes: number };
  };
  rows: Row[];
  startup?: StartupBreakdown;
  skipped: string[];
}

function ms(value: number): string {
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function mb(value: number): string {
  return `${value.toFixed(1)} MB`;
}

function ratio(value: number | undefined): string {
  if (value === undefined) return "-";
  if (value >= 10) return `${value.toFixed(0)}×`;
  return value >= 0.1 ? `${value.toFixed(2)}×` : `${value.toPrecision(2)}×`;
}

/** Renders the results as markdown tables. */
export function renderMarkdown(results: Results): string {
  const lines = [
    `Measured ${results.date}: ${results.machine.cpus} CPUs, ${results.machine.memoryGiB} GiB, ` +
    `Linux ${results.machine.kernel}, Deno ${results.machine.deno}` +
    `${results.machine.gdb ? `, ${results.machine.gdb}` : ""}; commit ` +
    `${results.git.start.commit?.slice(0, 7) ?? "?"}` +
    `${results.git.start.changes.length > 0 ? " with local changes" : ""}; median of ` +
    `${results.runs} runs after 1 warm-up.`,
    "",
    "| # | measurement | ours: wall | ours: peak RSS | peer | peer: wall | peer: peak RSS " +
    "| wall ours/peer | RSS ours/peer | notes |",
    "|---|---|--:|--:|---|--:|--:|--:|--:|---|",
  ];
  for (const row of results.rows) {
    const notes: string[] = [];
    if (row.coresPerSecond) {
      const c = row.coresPerSecond;
      notes.push(
        `${c.ours.toFixed(1)} cores/s` +
          (c.peer === undefined ? "" : ` vs ${c.peer.toFixed(1)} (${ratio(c.ours / c.peer)})`),
      );
    }
    if (row.overheadPct !== undefined) {
      const sign = row.overheadPct >= 0 ? "+" : "";
      notes.push(`${sign}${row.overheadPct.toFixed(0)}% on the peer`);
    }
    for (const t of row.targets) notes.push(`${t.text}: ${t.met ? "met" : "**NOT met**"}`);
    notes.push(...row.notes);
    lines.push(
      `| ${row.id} | ${row.what} | ${ms(row.ours.wallMs)} | ${mb(row.ours.peakRssMB)} | ${
        row.peer?.name ?? "-"
      } | ${row.peer ? ms(row.peer.wallMs) : "-"} | ${row.peer ? mb(row.peer.peakRssMB) : "-"} | ${
        ratio(row.wallRatio)
      } | ${ratio(row.rssRatio)} | ${notes.join("; ")} |`,
    );
  }
  if (results.startup) {
    const t = results.startup;
    lines.push(
      "",
      `Where the ${ms(t.versionMs)} of \`agent version\` go (differences of medians of ` +
        "whole-process runs that load more and more of it):",
      "",
      "| part | wall | peak RSS after it |",
      "|---|--:|--:|",
      `| Deno runtime: \`deno run\` of an empty script | ${ms(t.runtimeMs)} | ${
        mb(t.rssMB.runtime)
      } |`,
      `| + importing the npm packages it imports statically: ${t.npmStatic.join(", ")} | ${
        ms(t.npmMs)
      } | ${mb(t.rssMB.npm)} |`,
      ...Object.entries(t.npmAloneMs).map(([name, value]) =>
        `| (${name} alone, over the empty script${
          t.npmDynamic.includes(name) ? "; imported only when needed, not at start-up" : ""
        }) | ${ms(value)} | |`
      ),
      `| + importing the project's modules (cli/mod.ts) | ${ms(t.ownModulesMs)} | ${
        mb(t.rssMB.graph)
      } |`,
      `| + running the command (build, parse, print, exit) | ${ms(t.runMs)} | ${
        mb(t.rssMB.version)
      } |`,
    );
  }
  for (const reason of results.skipped) lines.push("", `SKIPPED: ${reason}`);
  const { start, end } = results.git;
  if (end && (start.commit !== end.commit || start.changes.join() !== end.changes.join())) {
    lines.push("", "WARNING: the CLI's sources changed during the run: the rows mix versions.");
  }
  return lines.join("\n");
}
