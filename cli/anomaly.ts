/**
 * `agent anomaly score [FILE|-] [-o csv|json] [--detector NAME]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { InputError } from "../lib/errors.ts";
import { writeAll } from "../lib/io.ts";
import { examples, helpSections, lateParts } from "./_help.ts";
import { later } from "./_later.ts";

const encoder = new TextEncoder();

/** Output written in pieces of about this many characters (a series may be long). */
const FLUSH_AT = 65_536;

/** Builds the `anomaly` command and its `score` subcommand. */
export function anomalyCommand(): CommandUnknownOpts {
  // Its choices are the detectors' names, set when this command runs or its help is printed.
  const detectorOption = new Option("--detector <name>", "detector").default("ensemble");
  const score = new Command("score")
    .summary("Score every point of a series for anomaly, 0 to 1, online")
    .description(
      "Score every point of a series for anomaly, 0 to 1, each from that point and the\n" +
        "points before it only (a score never changes when later points are appended).\n" +
        'Reads a CSV with a header naming "timestamp" and "value" (ISO 8601 or Unix\n' +
        "seconds; standard input when FILE is omitted or -) and writes\n" +
        "timestamp,value,anomaly_score, one row per input row, in the same order.",
    )
    .argument("[file]", "CSV file, or - for standard input", "-")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["csv", "json"] as const)
        .default("csv"),
    )
    .addOption(detectorOption)
    .action(async (file, options) => {
      const source = file === "-" ? "standard input" : `"${file}"`;
      let input: ReadableStream<Uint8Array>;
      if (file === "-") input = Deno.stdin.readable;
      else {
        try {
          input = (await Deno.open(file)).readable;
        } catch (error) {
          throw new InputError(
            `Cannot read ${source}: ${error instanceof Error ? error.message : error}`,
            { cause: error },
          );
        }
      }
      const { Detector, isDetectorName, readSeriesCsv } = await later<
        typeof import("../lib/anomaly/mod.ts")
      >("../lib/anomaly/mod.ts");
      // Checked by commander against the choices; this tells the type.
      if (!isDetectorName(options.detector)) {
        throw new InputError(`Unknown detector "${options.detector}"`);
      }
      const detector = new Detector(options.detector);
      const json = options.output === "json";
      let out = json ? "[" : "timestamp,value,anomaly_score\n";
      let first = true;
      const flush = async () => {
        await writeAll(Deno.stdout, encoder.encode(out));
        out = "";
      };
      try {
        for await (const point of readSeriesCsv(input, source)) {
          const score = detector.update(point.time, point.value);
          if (json) {
            out += `${first ? "\n" : ",\n"}  ${
              JSON.stringify({
                timestamp: point.timestamp,
                value: point.value,
                anomaly_score: score,
              })
            }`;
          } else out += `${csvField(point.timestamp)},${csvField(point.text)},${score}\n`;
          first = false;
          if (out.length >= FLUSH_AT) await flush();
        }
        out += json ? (first ? "]\n" : "\n]\n") : "";
      } finally {
        // What was scored is written even when a later line is bad.
        await flush().catch(ignoreBrokenPipe);
      }
    });
  examples(
    score,
    ["Score a CSV of timestamp,value rows with every detector", "agent anomaly score cpu.csv"],
    [
      "One detector, reading standard input, as JSON",
      "agent anomaly score - --detector robust -o json < cpu.csv",
    ],
  );
  lateParts(score, async () => {
    const { DETECTOR_NAMES } = await later<typeof import("../lib/anomaly/mod.ts")>(
      "../lib/anomaly/mod.ts",
    );
    detectorOption.choices(DETECTOR_NAMES);
  });
  helpSections(score, ["Detectors", [
    ["ensemble", "all of them"],
    ["robust", "median/IQR of the last values"],
    ["changepoint", "short against long window: level and spread"],
    ["seasonal", "daily and weekly profile"],
    ["pattern", "distance of the newest stretch to earlier ones"],
  ]]);
  return examples(
    new Command("anomaly")
      .description("Online anomaly detection over a series (the detectors the daemon runs)")
      .addCommand(score),
    ["Score a series for anomaly", "agent anomaly score cpu.csv"],
  );
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function ignoreBrokenPipe(error: unknown): void {
  if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
}
