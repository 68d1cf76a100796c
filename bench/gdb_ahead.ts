/**
 * `agent analyze core` of the 1 GiB core (bench/make_cores.ts) against a bare
 * `gdb -nx -batch -ex 'thread apply all bt'` and against another checkout's agent (`--ref`,
 * default /work/main), whole processes, alternating, medians and ratios to bare gdb.
 *
 * Run: `deno run -q --allow-read --allow-run --allow-env bench/gdb_ahead.ts [--runs N] [--ref DIR]`
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "15" },
    ref: { type: "string", default: "/work/main" },
  },
});
const root = new URL("..", import.meta.url).pathname;
const core = `${root}bench/.cores/1g/bigmem/core`;
const exe = `${root}bench/.cores/1g/bigmem/bigmem`;
const agent = ["run", "-q", "-P=agent", "--config", "deno.json", "main.ts", "analyze", "core"];
const commands: Record<string, [string, string[], string]> = {
  "gdb -nx -batch -ex 'thread apply all bt'": [
    "gdb",
    ["-nx", "-batch", "-ex", "thread apply all bt", exe, core],
    root,
  ],
  [`agent analyze core -o json (${values.ref})`]: [
    "deno",
    [...agent, core, "-o", "json"],
    values.ref,
  ],
  "agent analyze core -o json (this checkout)": ["deno", [...agent, core, "-o", "json"], root],
};
const names = Object.keys(commands);
const times = new Map<string, number[]>(names.map((n) => [n, []]));
const runs = Number(values.runs);
for (let round = -1; round < runs; round++) {
  // One warm-up round, then the order rotates every round.
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + Math.max(round, 0)) % names.length]!;
    const [command, args, cwd] = commands[name]!;
    const started = performance.now();
    const out = await new Deno.Command(command, {
      args,
      cwd,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: { DEBUGINFOD_URLS: "" },
    }).output();
    if (!out.success) throw new Error(`${name} failed (${out.code})`);
    if (round >= 0) times.get(name)!.push(performance.now() - started);
  }
}
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const peer = median(times.get(names[0]!)!);
console.log(`| command | median wall | ratio to bare gdb |\n|---|--:|--:|`);
for (const name of names) {
  const m = median(times.get(name)!);
  console.log(`| ${name} | ${m.toFixed(0)} ms | ${(m / peer).toFixed(2)}× |`);
}
