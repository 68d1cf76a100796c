/**
 * The NAB corpus and scorer as the anomaly benchmarks use them: the labelled files read into
 * memory, and `nab_score.py` run with some arguments, its JSON answer parsed.
 *
 * @module
 */
import { parseTimestamp } from "../lib/anomaly/mod.ts";

/** One NAB data file, by its path under `data/` (`realTraffic/speed_6005.csv`). */
export interface NabFile {
  path: string;
  times: Float64Array;
  values: Float64Array;
}

/** Every labelled file of the corpus at `nab`, sorted by path. */
export async function nabCorpus(nab: string): Promise<NabFile[]> {
  const labels = JSON.parse(await Deno.readTextFile(`${nab}/labels/combined_windows.json`));
  const out: NabFile[] = [];
  for (const path of Object.keys(labels).sort()) {
    const rows = (await Deno.readTextFile(`${nab}/data/${path}`)).trim().split("\n").slice(1);
    out.push({
      path,
      times: Float64Array.from(rows, (r) => parseTimestamp(r.split(",")[0]!)),
      values: Float64Array.from(rows, (r) => Number(r.split(",")[1])),
    });
  }
  return out;
}

/** The scores per profile, from `nab_score.py --nab NAB ARGS... --json`. */
export async function nabScores(
  scorer: string,
  nab: string,
  args: string[],
): Promise<Record<string, number>> {
  const out = await new Deno.Command("python3", {
    args: [scorer, "--nab", nab, ...args, "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const result = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    profiles: Record<string, { score: number }>;
  };
  return Object.fromEntries(Object.entries(result.profiles).map(([p, r]) => [p, r.score]));
}
