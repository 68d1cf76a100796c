// deno-lint-ignore-file no-console
/**
 * Micro-benchmarks of the analyzer's two parsers: `readCoreNotes()` on a small real core
 * (4 threads, made here by crashing `threads`), and `parseGdbOutput()` on a synthetic
 * `thread apply all bt` of 200 threads × 30 frames; and what reading build-ids costs the
 * notes-only analysis of the 1 GiB core `make_cores.ts` makes: `analyzeCore()` without gdb,
 * with build-ids read, against the same with them off, in one run (`build_ids.ts` compares
 * with another commit's analysis).
 *
 * Run: `deno task bench` (= `deno bench -P bench/`).
 *
 * @module
 */
import { analyzeCore } from "../lib/core/analyze.ts";
import { readCoreNotes } from "../lib/core/elf_core.ts";
import { parseGdbOutput, sectionMarker } from "../lib/core/gdb_parse.ts";
import { crash, haveGcc } from "../tests/support/cores.ts";

/** Threads and frames per thread of the synthetic gdb output. */
export const THREADS = 200;
export const FRAMES = 30;

const FUNCTIONS = [
  "milvus::segcore::SegmentSealedImpl::Search",
  "knowhere::IndexNode::Search",
  "folly::ThreadPoolExecutor::runTask",
  "std::_Function_handler<void (), std::_Bind<void (*(int))(int)> >::_M_invoke",
  "worker_loop",
  "process_batch",
];

/**
 * Builds a `thread apply all bt` output like gdb's: the section marker, then per thread a
 * header and `frames` frames mixing source locations, library frames and unknown ones.
 */
export function syntheticBacktrace(threads: number, frames: number): string {
  const lines = ["", sectionMarker("threads")];
  for (let t = threads; t >= 1; t--) {
    const lwp = 2190 + t;
    const id = (0x7f88400186c0 - t * 0x801000).toString(16);
    lines.push("", `Thread ${t} (Thread 0x${id} (LWP ${lwp})):`);
    for (let f = 0; f < frames; f++) {
      const address = `0x${(0x7f88408a61f5 + f * 0x1a3 + t).toString(16).padStart(16, "0")}`;
      const index = `#${f}`.padEnd(4);
      if (f === 0) {
        lines.push(`${index}0x${"0".repeat(16)} in ?? ()`);
      } else if (f === frames - 2) {
        lines.push(
          `${index}${address} in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442`,
        );
      } else if (f === frames - 1) {
        lines.push(`${index}${address} in clone3 () from /lib/x86_64-linux-gnu/libc.so.6`);
      } else if (f % 3 === 0) {
        lines.push(
          `${index}${address} in ${
            FUNCTIONS[f % FUNCTIONS.length]
          } () from /usr/lib/libknowhere.so`,
        );
      } else {
        lines.push(
          `${index}${address} in ${FUNCTIONS[f % FUNCTIONS.length]} (this=0x5581a0, ` +
            `req=..., ctx=std::shared_ptr<Ctx> (use count 2) = {get() = 0x55d0}) ` +
            `at /src/internal/core/src/segcore/file_${f}.cpp:${100 + f}`,
        );
      }
    }
  }
  lines.push("");
  return lines.join("\n");
}

const text = syntheticBacktrace(THREADS, FRAMES);
const parsed = parseGdbOutput(text);
if (parsed.threads.length !== THREADS || parsed.threads.some((t) => t.frames.length !== FRAMES)) {
  throw new Error(
    `the synthetic backtrace parses into ${parsed.threads.length} threads, not ${THREADS}×${FRAMES}`,
  );
}

Deno.bench({
  name: `parseGdbOutput: ${THREADS} threads × ${FRAMES} frames (${
    (text.length / 1024).toFixed(0)
  } KiB)`,
  group: "gdb",
  fn() {
    parseGdbOutput(text);
  },
});

async function threadsCore(): Promise<string | undefined> {
  if (!haveGcc()) {
    console.warn("SKIP: gcc is not installed: cannot make a core for the readCoreNotes bench");
    return undefined;
  }
  const dir = await Deno.makeTempDir({ prefix: "agent-bench-" });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  });
  return (await crash("threads", dir)).core;
}

const core = await threadsCore();
const coreBytes = core ? (await Deno.stat(core)).size : 0;

Deno.bench({
  name: `readCoreNotes: threads core (4 threads, ${(coreBytes / 1024).toFixed(0)} KiB)`,
  group: "core",
  ignore: core === undefined,
  async fn() {
    await readCoreNotes(core!);
  },
});

/** The 1 GiB core of `make_cores.ts`, if it has been made. */
const DENSE_CORE = new URL("./.cores/1g/bigmem/core", import.meta.url).pathname;
const dense = await Deno.stat(DENSE_CORE).then((info) => info.isFile, () => false);
if (!dense) {
  console.warn(
    "SKIP: no 1 GiB core for the build-id benchmark: make it with deno run -q --allow-read " +
      "--allow-write --allow-run --allow-env --allow-sys bench/make_cores.ts",
  );
}

Deno.bench({
  name: "analyzeCore --no-gdb: 1 GiB core, build-ids off",
  group: "build-ids",
  baseline: true,
  ignore: !dense,
  // Each run is a fraction of a millisecond: many, to see a few percent through the noise.
  n: 5000,
  warmup: 500,
  async fn() {
    await analyzeCore(DENSE_CORE, { gdb: false, buildIds: false });
  },
});

Deno.bench({
  name: "analyzeCore --no-gdb: 1 GiB core, with build-ids",
  group: "build-ids",
  ignore: !dense,
  n: 5000,
  warmup: 500,
  async fn() {
    const analysis = await analyzeCore(DENSE_CORE, { gdb: false });
    if (!analysis.buildIds.some((m) => m.buildId)) throw new Error("no build-id read");
  },
});
