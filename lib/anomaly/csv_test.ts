import { assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { InputError } from "../errors.ts";
import { parseTimestamp, readSeriesCsv } from "./csv.ts";

function stream(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => encoder.encode(c)));
}

async function points(...chunks: string[]) {
  const out = [];
  for await (const p of readSeriesCsv(stream(...chunks), "test.csv")) out.push(p);
  return out;
}

Deno.test("parseTimestamp() reads NAB's, ISO 8601 and Unix times", () => {
  assertEquals(parseTimestamp("2014-04-01 00:05:00"), 1396310700);
  assertEquals(parseTimestamp("2014-04-01T00:05:00Z"), 1396310700);
  assertEquals(parseTimestamp("2014-04-01T02:05:00+02:00"), 1396310700);
  assertEquals(parseTimestamp("2014-04-01 00:05:00.250000"), 1396310700.25);
  assertEquals(parseTimestamp("2014-04-01"), 1396310400);
  assertEquals(parseTimestamp("1396310700"), 1396310700);
  for (const bad of ["", "yesterday", "2014-13-01", "2014-04-01 25:00:00", "12:00"]) {
    assertEquals(parseTimestamp(bad), NaN, bad);
  }
});

Deno.test("readSeriesCsv() reads rows across chunks, CRLF, quotes and extra columns", async () => {
  const got = await points(
    "\uFEFFvalue,timestamp,label\r\n1.5,2014-04-01 00:00:00,a\r\n",
    '\n"2",2014-04-01 00:0',
    "5:00,b\n-3e2,1396311000,c",
  );
  assertEquals(got.map((p) => [p.line, p.time, p.value, p.text]), [
    [2, 1396310400, 1.5, "1.5"],
    [4, 1396310700, 2, "2"],
    [5, 1396311000, -300, "-3e2"],
  ]);
});

Deno.test("readSeriesCsv() names the line and the reason of bad input", async () => {
  const cases: [string, string][] = [
    ["", "it is empty"],
    ["time,value\n1,2\n", 'the header must name the columns "timestamp" and "value"'],
    ["timestamp,value\n2014-04-01,1\nnoon,2\n", 'line 3: timestamp "noon" is not a date'],
    ["timestamp,value\n2014-04-01,abc\n", 'line 2: value "abc" is not a number'],
    ["timestamp,value\n2014-04-01,\n", 'line 2: value "" is not a number'],
    ["timestamp,value\n2014-04-01\n", "line 2 has 1 columns, not 2"],
    ["timestamp,value\n" + "9".repeat(70_000), "line 2 is longer than 65536 bytes"],
  ];
  for (const [text, reason] of cases) {
    await assertRejects(() => points(text), InputError, `Cannot read test.csv: ${reason}`);
  }
});
