/**
 * Black-box tests of `agent score` on real cores.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { haveGcc, haveGdb, killedCore, sampleCores, skipNotice } from "./support/cores.ts";
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
    // Panic keywords count only when the program said one: glibc's "Assertion ... failed".
    const expected: Record<string, [string, number][]> = {
      segv: [["base", 4], ["crashReason", 2], ...fresh],
      fpe: [["base", 4], ["crashReason", 2], ...fresh],
      abort: [["base", 4], ["crashReason", 2], ["stackTrace", 1.5], ...fresh],
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
        ["stackTrace", 1.5],
        ["multipleThreads", 0.5],
        ...fresh,
      ],
      recursive: [["base", 4], ["crashReason", 2], ["stackTrace", 1.5], ...fresh],
    };
    const scores: Record<string, number> = {
      segv: 7.5,
      fpe: 7.5,
      abort: 9,
      assert: 10,
      threads: 9.5,
      recursive: 9,
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
    assertEquals([result!.score, result!.threshold, result!.store], [8.5, 9.6, false]);
  },
});

Deno.test({
  name: "score --fail-under exits 1 and names each core below it with the rule that would lift it",
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
      /segv\/core +5\.5 +no +SIGSEGV +fatalSignal\+1,recentCrash\+0\.5 +SIGSEGV/,
    );
    assertEquals(notesOnly.stderr.trim().split("\n"), [
      `error: "${segv.core}" scores 5.5, under 7: stackTrace (+1.5, a crashing stack over 100 characters) would have lifted it to 7`,
      `error: "${threads.core}" scores 6, under 7: panicKeywords (+1, a panic keyword in what the program said) would have lifted it to 7`,
    ]);
    const passing = await runAgent([
      "score",
      segv.core,
      threads.core,
      "--no-gdb",
      "--fail-under",
      "5",
    ]);
    assertEquals([passing.code, passing.stderr], [0, ""]);
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
        [5.5, undefined],
        [null, `Cannot read core "${dir}/missing": no such file`],
      ]);
      const lines = run.stderr.trim().split("\n");
      assertEquals(lines.length, 3, "one stderr line per bad file, one for the core under 9");
      assertMatch(lines[2]!, /scores 5\.5, under 9/);
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

Deno.test({
  name: "score puts a kill -ABRT of a healthy process below the threshold, a segfault above it",
  ignore: noGcc || noGdb,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      // Debian's sleep (stripped) and a debug build that only waits: neither crashed.
      const [sleep, idle] = [
        await killedCore("sleep", dir, ["600"]),
        await killedCore("idle", dir),
      ];
      const run = await runAgent(["score", sleep.core, idle.core, segv.core, "-o", "json"]);
      assertEquals(run.code, 0, run.stderr);
      const [killedSleep, killedIdle, crashed] = json<ScoreResult[]>(run);
      for (const killed of [killedSleep!, killedIdle!]) {
        assertEquals(killed.store, false, JSON.stringify(killed));
        assert(killed.score! < 7, JSON.stringify(killed));
        const rule = killed.breakdown.find((b) => b.rule === "sentByOtherProcess");
        assertEquals(rule?.points, -5);
        assertMatch(rule!.detail, new RegExp(`^SIGABRT sent by kill from pid ${Deno.pid}: `));
      }
      assertEquals(killedIdle!.crashReason?.includes("in wait_for_work() at idle.c:6"), true);
      assertEquals([crashed!.score, crashed!.store], [7.5, true]);
    }),
});

Deno.test({
  name: "score keeps its table within 120 columns; --wide shows the whole breakdown",
  ignore: noGcc || noGdb,
  fn: () =>
    withTempDir(async (dir) => {
      const { threads } = await sampleCores();
      const deep = `${dir}/${"a-rather-long-directory-name/".repeat(4)}`;
      await Deno.mkdir(deep, { recursive: true });
      await Deno.copyFile(threads.core, `${deep}/core.threads.1234`);
      const args = ["score", `${deep}/core.threads.1234`, "--exe", threads.exe, "--pod", "p-0"];
      const narrow = await runAgent(args);
      assertEquals(narrow.code, 0, narrow.stderr);
      const lines = narrow.stdout.trimEnd().split("\n");
      assert(lines.every((l) => l.length <= 120), lines.map((l) => l.length).join(","));
      assertMatch(lines[1]!, /^….*core\.threads\.1234 +10\.0 +yes +SIGSEGV +crashReason\+2,.*…/);
      const wide = await runAgent([...args, "--wide"]);
      assertEquals(wide.code, 0, wide.stderr);
      const row = wide.stdout.split("\n")[1]!;
      assertEquals(row.startsWith(`${deep}/core.threads.1234 `), true, row);
      assertEquals(
        row.includes(
          "crashReason+2,stackTrace+1.5,multipleThreads+0.5,podAssociation+1,fatalSignal+1," +
            "recentCrash+0.5   SIGSEGV (address not mapped) at 0x0 in write_value() at threads.c:12",
        ),
        true,
        row,
      );
    }),
});
