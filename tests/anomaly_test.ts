/**
 * Black-box tests of `agent anomaly score`: the contract the NAB scorer relies on (one row per
 * input row, same order, scores in [0, 1], each from the past only), standard input, JSON, and
 * bad input.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";

/** A 5-minute series with a daily rhythm and a spike at row 1500. */
function series(rows: number): string {
  const lines = ["timestamp,value"];
  for (let i = 0; i < rows; i++) {
    const time = new Date(Date.UTC(2014, 3, 1) + i * 300_000).toISOString().replace("T", " ");
    const value = 40 + 10 * Math.sin(i / 288 * 2 * Math.PI) + (i * 7919 % 13) / 13 +
      (i === 1500 ? 60 : 0);
    lines.push(`${time.slice(0, 19)},${value.toFixed(3)}`);
  }
  return lines.join("\n") + "\n";
}

function rows(csv: string): string[][] {
  return csv.trimEnd().split("\n").map((line) => line.split(","));
}

Deno.test("agent anomaly score writes one score per row, the spike's highest", async () => {
  await withTempDir(async (dir) => {
    const input = series(2000);
    await Deno.writeTextFile(`${dir}/cpu.csv`, input);
    const run = await runAgent(["anomaly", "score", `${dir}/cpu.csv`]);
    assertEquals(run.code, 0, run.stderr);
    const out = rows(run.stdout);
    const inRows = rows(input);
    assertEquals(out[0], ["timestamp", "value", "anomaly_score"]);
    assertEquals(out.length, inRows.length);
    assertEquals(out.map((r) => r.slice(0, 2)), inRows);
    const scores = out.slice(1).map((r) => Number(r[2]));
    assert(scores.every((s) => s >= 0 && s <= 1));
    const top = scores.indexOf(Math.max(...scores));
    assertEquals(top, 1500);
  });
});

Deno.test("agent anomaly score reads standard input; a row's score ignores later rows", async () => {
  await withTempDir(async (dir) => {
    const whole = series(1700);
    const head = whole.split("\n").slice(0, 1201).join("\n") + "\n";
    await Deno.writeTextFile(`${dir}/whole.csv`, whole);
    await Deno.writeTextFile(`${dir}/head.csv`, head);
    const a = await runAgent(["anomaly", "score", "-"], { stdinFile: `${dir}/whole.csv` });
    const b = await runAgent(["anomaly", "score", "--detector", "pattern"], {
      stdinFile: `${dir}/head.csv`,
    });
    const c = await runAgent(["anomaly", "score", "--detector", "pattern", `${dir}/whole.csv`]);
    assertEquals([a.code, b.code, c.code], [0, 0, 0]);
    assertEquals(rows(a.stdout).length, 1701);
    assertEquals(rows(c.stdout).slice(0, 1201), rows(b.stdout));
  });
});

Deno.test("agent anomaly score -o json writes an array of rows", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/s.csv`, "timestamp,value\n1396310400,1.5\n1396310700,2\n");
    const got = json<{ timestamp: string; value: number; anomaly_score: number }[]>(
      await runAgent(["anomaly", "score", `${dir}/s.csv`, "-o", "json"]),
    );
    assertEquals(got, [
      { timestamp: "1396310400", value: 1.5, anomaly_score: 0 },
      { timestamp: "1396310700", value: 2, anomaly_score: 0 },
    ]);
    await Deno.writeTextFile(`${dir}/empty.csv`, "timestamp,value\n");
    assertEquals(json(await runAgent(["anomaly", "score", `${dir}/empty.csv`, "-o", "json"])), []);
  });
});

Deno.test("agent anomaly score: bad input is one line naming it, exit code 2", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.csv`, "timestamp,value\n2014-04-01,1\n2014-04-02,n/a\n");
    const bad = await runAgent(["anomaly", "score", `${dir}/bad.csv`]);
    assertEquals(bad.code, 2);
    assertEquals(bad.stderr, `Cannot read "${dir}/bad.csv": line 3: value "n/a" is not a number\n`);
    assertEquals(bad.stdout, "timestamp,value,anomaly_score\n2014-04-01,1,0\n", "rows before it");
    const missing = await runAgent(["anomaly", "score", `${dir}/nope.csv`]);
    assertEquals(missing.code, 2);
    assertStringIncludes(missing.stderr, `Cannot read "${dir}/nope.csv": `);
    const detector = await runAgent(["anomaly", "score", "--detector", "magic", `${dir}/bad.csv`]);
    assertEquals(detector.code, 2);
    assertStringIncludes(detector.stderr, "magic");
  });
});
