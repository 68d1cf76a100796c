/**
 * Black-box tests of `agent score` on real cores.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import type { ScoreResult } from "../cli/score.ts";

const noGcc = skipNotice("gcc", haveGcc());
const noGdb = skipNotice("gdb", haveGdb());

function rules(result: ScoreResult): [string, number][] {
  return result.breakdown.map((b) => [b.rule, b.points]);
}

Deno.test({
  name: "score gives each sample core its exact breakdown",
  ignore: noGcc || noGdb,
  fn: async () => {
    const s = await sampleCores();
    const order = [s.segv, s.fpe, s.abort, s.assert, s.threads, s.recursive];
    const run = await runAgent(["score", ...order.map((c) => c.core), "-o", "json"]);
    assertEquals(run.code, 0, run.stderr);
    const results = json<ScoreResult[]>(run);
    assertEquals(results.map((r) => r.file), order.map((c) => c.core));
    const fresh: [string, number][] = [["fatalSignal", 1], ["recentCrash", 0.5]];
    const expected: Record<string, [string, number][]> = {
      segv: [["base", 4], ["crashReason", 2], ["panicKeywords", 1], ...fresh],
      fpe: [["base", 4], ["crashReason", 2], ["panicKeywords", 1], ...fresh],
      abort: [["base", 4], ["crashReason", 2], ["panicKeywords", 1], ["stackTrace", 1.5], ...fresh],
      assert: [
        ["base", 4],
        ["crashReason", 2],
        ["panicKeywords", 1],
        ["stackTrace", 1.5],
        ...fresh,
      ],
      threads: [
        ["base", 4],
        ["crashReason", 2],
        ["panicKeywords", 1],
        ["stackTrace", 1.5],
        ["multipleThreads", 0.5],
        ...fresh,
      ],
      recursive: [
        ["base", 4],
        ["crashReason", 2],
        ["panicKeywords", 1],
        ["stackTrace", 1.5],
        ...fresh,
      ],
    };
    const scores: Record<string, number> = {
      segv: 8.5,
      fpe: 8.5,
      abort: 10,
      assert: 10,
      threads: 10,
      recursive: 10,
    };
    results.forEach((result, i) => {
      const name = order[i]!.name;
      assertEquals(rules(result), expected[name], name);
      assertEquals(result.score, scores[name], name);
      assertEquals([result.threshold, result.store], [7, true], name);
      assertEquals(result.error, undefined);
    });
    assertEquals(results[0]!.signal, { number: 11, name: "SIGSEGV" });
    assertEquals(
      results[0]!.crashReason,
      "SIGSEGV (address not mapped) at 0x0 in deref() at segv.c:5",
    );
  },
});

Deno.test({
  name: "score --pod counts pod association and --threshold decides storing",
  ignore: noGcc || noGdb,
  fn: async () => {
    const { segv } = await sampleCores();
    const [result] = json<ScoreResult[]>(
      await runAgent([
        "score",
        segv.core,
        "--pod",
        "milvus-querynode-0",
        "--threshold",
        "9.6",
        "-o",
        "json",
      ]),
    );
    assertEquals(result!.breakdown.find((b) => b.rule === "podAssociation"), {
      rule: "podAssociation",
      points: 1,
      detail: "pod milvus-querynode-0",
    });
    assertEquals([result!.score, result!.threshold, result!.store], [9.5, 9.6, false]);
  },
});

Deno.test({
  name: "score --fail-under exits 1 when a core scores below it",
  ignore: noGcc,
  fn: async () => {
    const { segv, threads } = await sampleCores();
    const notesOnly = await runAgent([
      "score",
      segv.core,
      threads.core,
      "--no-gdb",
      "--fail-under",
      "7",
    ]);
    assertEquals(notesOnly.code, 1, notesOnly.stderr);
    assertMatch(notesOnly.stdout, /^FILE +SCORE +STORE +SIGNAL +RULES +CRASH REASON$/m);
    assertMatch(
      notesOnly.stdout,
      /segv\/core +6\.5 +no +SIGSEGV +panicKeywords\+1,fatalSignal\+1,recentCrash\+0\.5 +SIGSEGV/,
    );
    const passing = await runAgent([
      "score",
      segv.core,
      threads.core,
      "--no-gdb",
      "--fail-under",
      "6",
    ]);
    assertEquals(passing.code, 0, passing.stderr);
  },
});

Deno.test({
  name: "score reports a bad file as an error entry, scores the rest and exits 2",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    await withTempDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/notes.txt`, "not a core\n");
      const run = await runAgent(
        [
          "score",
          `${dir}/notes.txt`,
          segv.core,
          `${dir}/missing`,
          "--no-gdb",
          "--fail-under",
          "9",
          "-o",
          "json",
        ],
      );
      assertEquals(run.code, 2);
      const results = json<ScoreResult[]>(run);
      assertEquals(results.map((r) => [r.score, r.error]), [
        [null, `Cannot read core "${dir}/notes.txt": not an ELF file`],
        [6.5, undefined],
        [null, `Cannot read core "${dir}/missing": no such file`],
      ]);
      assertEquals(run.stderr.trim().split("\n").length, 2, "one stderr line per bad file");
    });
  },
});

Deno.test({
  name: "score handles many cores with bounded concurrency, in input order",
  ignore: noGcc,
  fn: async () => {
    const { segv, fpe } = await sampleCores();
    const files = Array.from({ length: 30 }, (_, i) => (i % 2 ? segv.core : fpe.core));
    const run = await runAgent(["score", ...files, "--no-gdb", "-j", "3", "-o", "json"]);
    assertEquals(run.code, 0, run.stderr);
    const results = json<ScoreResult[]>(run);
    assertEquals(results.map((r) => r.file), files);
    assert(results.every((r) => r.signal?.name === (r.file === segv.core ? "SIGSEGV" : "SIGFPE")));
  },
});

Deno.test("score rejects a threshold outside 0-10 as analyzer.valueThreshold does", async () => {
  const run = await runAgent(["score", "core", "--threshold", "12"]);
  assertEquals(run.code, 2);
  assertEquals(
    run.stderr,
    "Invalid configuration: analyzer.valueThreshold (from --threshold): must be at most 10, got 12\n",
  );
});
