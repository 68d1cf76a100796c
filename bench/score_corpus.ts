// deno-lint-ignore-file no-console
/**
 * The score distribution over a corpus of real cores: every sample program (C, C++, and Go
 * with each toolchain found), stripped and unstripped builds of one program, and healthy
 * processes another process killed with SIGABRT (`sleep` from Debian, stripped, and a debug
 * build of `idle`). Crashes them all in a temporary directory, runs `agent score -o json` on
 * the cores (gdb on, defaults, fresh cores: `recentCrash` fires for all), and prints a
 * markdown table, sorted by score, and the count per score band.
 *
 * Run: `deno task bench:scores`
 *
 * @module
 */
import { runAgent } from "../tests/support/cli.ts";
import {
  type Crash,
  crash,
  goToolchains,
  haveCommand,
  haveGcc,
  haveGdb,
  killedCore,
  SAMPLES,
} from "../tests/support/cores.ts";

/** One core of the corpus and what kind of crash it is. */
export interface Entry {
  label: string;
  kind: string;
  crash: Crash;
}

/** One line of `agent score -o json`, as far as this script reads it. */
interface Scored {
  file: string;
  score: number;
  store: boolean;
  breakdown: { rule: string; points: number }[];
}

/** Crashes every program of the corpus in `dir`. */
export async function corpus(dir: string): Promise<Entry[]> {
  const made: Promise<Entry>[] = SAMPLES.map(async (name) => ({
    label: name,
    kind: "C, debug build",
    crash: await crash(name, dir),
  }));
  made.push(
    (async () => ({
      label: "stripped (bug a)",
      kind: "C, stripped",
      crash: await crash("stripped", dir, ["a"], undefined, { strip: true, dir: "stripped-a" }),
    }))(),
    (async () => ({
      label: "stripped (bug b)",
      kind: "C, stripped",
      crash: await crash("stripped", dir, ["b"], undefined, { strip: true, dir: "stripped-b" }),
    }))(),
    (async () => ({
      label: "stripped, unstripped build",
      kind: "C, debug build",
      crash: await crash("stripped", dir, ["a"], undefined, { dir: "unstripped-a" }),
    }))(),
    ...["doublefree", "nullcall"].map(async (name) => ({
      label: name,
      kind: "C, debug build",
      crash: await crash(name, dir),
    })),
    (async () => ({
      label: "killed idle",
      kind: "kill -ABRT, debug build",
      crash: await killedCore("idle", dir),
    }))(),
    (async () => ({
      label: "killed sleep",
      kind: "kill -ABRT, Debian (stripped)",
      crash: await killedCore("sleep", dir, ["600"]),
    }))(),
  );
  if (haveCommand("g++")) {
    made.push((async () => ({
      label: "cppthrow",
      kind: "C++, debug build",
      crash: await crash("cppthrow", dir),
    }))());
  }
  for (const { go, version } of haveCommand("go") ? goToolchains() : []) {
    for (const name of ["gonil", "gopanic", "gocgo", "gothrow"]) {
      made.push((async () => ({
        label: `${name} (${version})`,
        kind: "Go",
        crash: await crash(name, dir, [], go, { dir: `${name}-${version}` }),
      }))());
    }
  }
  return await Promise.all(made);
}

if (import.meta.main) {
  if (!haveGcc() || !haveGdb()) {
    console.error("SKIP: gcc and gdb are needed to make and read the corpus");
    Deno.exit(0);
  }
  const dir = await Deno.makeTempDir({ prefix: "agent-score-corpus-" });
  try {
    const entries = await corpus(dir);
    const run = await runAgent(
      ["score", ...entries.map((e) => e.crash.core), "-o", "json"],
      { timeoutMs: 600_000 },
    );
    if (run.code !== 0) throw new Error(`agent score exited ${run.code}: ${run.stderr}`);
    const scored = JSON.parse(run.stdout) as Scored[];
    const rows = entries.map((entry, i) => ({ entry, result: scored[i]! }))
      .sort((a, b) =>
        b.result.score - a.result.score || a.entry.label.localeCompare(b.entry.label)
      );
    console.log("| core | kind | score | stored | rules (besides base 4) |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const { entry, result } of rows) {
      const rules = result.breakdown.filter((b) => b.rule !== "base")
        .map((b) => `${b.rule} ${b.points > 0 ? "+" : ""}${b.points}`).join(", ");
      console.log(
        `| ${entry.label} | ${entry.kind} | ${result.score} | ${
          result.store ? "yes" : "no"
        } | ${rules} |`,
      );
    }
    const bands = [[9, 10.01], [8, 9], [7, 8], [5, 7], [3, 5], [0, 3]] as const;
    console.log("\n| score | cores |\n| --- | --- |");
    for (const [low, high] of bands) {
      const n = scored.filter((r) => r.score >= low && r.score < high).length;
      console.log(`| ${low}–${high === 10.01 ? 10 : `<${high}`} | ${n} |`);
    }
    console.log(`\n${scored.length} cores, ${scored.filter((r) => r.store).length} stored at 7`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
