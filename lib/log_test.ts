import { assertEquals } from "../tests/support/assert.ts";
import { createLogger, type LoggerOptions } from "./log.ts";

function capture(format: LoggerOptions["format"]) {
  const lines: string[] = [];
  const log = createLogger({
    level: "debug",
    format,
    write: (line) => lines.push(line),
    now: () => new Date(0),
  });
  return { log, lines };
}

Deno.test("createLogger() hides URL credentials in text and JSON lines", () => {
  const text = capture("text");
  text.log.warn("S3 at https://agent:hunter2@minio:9000 failed", {
    endpoint: "http://u:p@host/x",
  });
  assertEquals(text.lines, [
    "warn: S3 at https://***@minio:9000 failed endpoint=http://***@host/x",
  ]);
  const json = capture("json");
  json.log.info("x", { endpoint: "http://u:p@host/x", nested: { url: "s3://k@b/" }, n: 1 });
  assertEquals(JSON.parse(json.lines[0]!), {
    time: "1970-01-01T00:00:00.000Z",
    level: "info",
    msg: "x",
    endpoint: "http://***@host/x",
    nested: { url: "s3://***@b/" },
    n: 1,
  });
});

Deno.test("createLogger() writes one line whatever the message and fields hold", () => {
  const text = capture("text");
  text.log.error("cannot store \x1b[2J\nFAKE", { file: "/tmp/a\nb", reason: "\u009b2J" });
  assertEquals(text.lines, [
    'error: cannot store \\x1b[2J\\nFAKE file="/tmp/a\\nb" reason=\\x9b2J',
  ]);
  const json = capture("json");
  json.log.error("\x1b[2J\u009b", { file: "a\nb\x7f" });
  assertEquals(json.lines[0]!.includes("\u009b") || json.lines[0]!.includes("\x7f"), false);
  assertEquals(JSON.parse(json.lines[0]!).file, "a\nb\x7f");
});
