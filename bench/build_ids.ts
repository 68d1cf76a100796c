// deno-lint-ignore-file no-console
/**
 * What reading build-ids costs the notes-only analysis of the 1 GiB core of `make_cores.ts`,
 * against the analysis as another commit has it (default `main`), in one run: that commit's
 * `lib/` is taken out with `git archive` into a temporary directory and its `analyzeCore()`
 * imported beside this checkout's. The three variants (that commit; this checkout with build-ids
 * off; this checkout) run in turn, one call each, many times over, so that the load of a busy
 * machine falls on all three alike; the quantiles of each and the ratios are printed.
 *
 * Run: `deno task bench:build-ids [REF]`
 *
 * @module
 */
import type { analyzeCore } from "../lib/core/analyze.ts";
import { analyzeCore as current } from "../lib/core/analyze.ts";

const ROUNDS = 30_000;
const WARMUP = 3_000;
const CORE = new URL("./.cores/1g/bigmem/core", import.meta.url).pathname;

if (import.meta.main) {
  const ref = Deno.args[0] ?? "main";
  if (!(await Deno.stat(CORE).then((i) => i.isFile, () => false))) {
    console.error(
      "SKIP: no 1 GiB core: make it with deno run -q --allow-read --allow-write --allow-run " +
        "--allow-env --allow-sys bench/make_cores.ts",
    );
    Deno.exit(0);
  }
  const root = new URL("..", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "agent-bench-ref-" });
  try {
    const archive = new Deno.Command("sh", {
      args: ["-c", 'git -C "$0" archive "$1" lib | tar -x -C "$2"', root, ref, dir],
      stderr: "piped",
    });
    const out = await archive.output();
    if (!out.success) {
      throw new Error(`git archive ${ref}: ${new TextDecoder().decode(out.stderr)}`);
    }
    const before = (await import(`${dir}/lib/core/analyze.ts`)).analyzeCore as typeof analyzeCore;
    const variants: [string, () => Promise<unknown>][] = [
      [`${ref}`, () => before(CORE, { gdb: false })],
      ["this checkout, build-ids off", () => current(CORE, { gdb: false, buildIds: false })],
      ["this checkout", () => current(CORE, { gdb: false })],
    ];
    const samples = variants.map(() => [] as number[]);
    for (let round = 0; round < ROUNDS; round++) {
      const i = round % variants.length;
      const started = performance.now();
      await variants[i]![1]();
      if (round >= WARMUP) samples[i]!.push(performance.now() - started);
    }
    samples.forEach((s) => s.sort((a, b) => a - b));
    const at = (s: number[], q: number) => s[Math.floor(s.length * q)]! * 1000;
    console.log(`notes-only analyzeCore of ${CORE}, µs (${ROUNDS - WARMUP} calls in turn)\n`);
    console.log(`| quantile | ${variants.map(([name]) => name).join(" | ")} | this / ${ref} |`);
    console.log(`| --- | ${variants.map(() => "---").join(" | ")} | --- |`);
    for (const q of [0.1, 0.25, 0.5]) {
      const values = samples.map((s) => at(s, q));
      console.log(
        `| p${q * 100} | ${values.map((v) => v.toFixed(1)).join(" | ")} | ${
          (values[2]! / values[0]!).toFixed(3)
        } |`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
