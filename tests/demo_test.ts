/**
 * `deno task demo` shows what the README promises: every hint it prints works as printed,
 * with the pods' names from the simulated CRI runtime, their `container_*` series, the
 * stored core with its AI explanation, the node's own `node_*` series, `agent stats` and
 * `agent ai usage`.
 */
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { DENO_DIR } from "./support/cli.ts";
import { haveCommand, haveGcc, skipNotice } from "./support/cores.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
const skip = skipNotice("gcc", haveGcc()) || skipNotice("curl", haveCommand("curl"));
const decoder = new TextDecoder();

/** Reads `reader` until `text` has come, and returns everything read. */
async function readUntil(reader: ReadableStreamDefaultReader<string>, text: string) {
  let seen = "";
  while (!seen.includes(text)) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`the demo ended before printing ${JSON.stringify(text)}:\n${seen}`);
    seen += value;
  }
  return seen;
}

Deno.test({
  name: "the demo's hints all work as printed: pods named, container series, the stored core, node",
  ignore: skip,
  fn: async () => {
    const demo = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-q",
        "-P=demo",
        "--config",
        `${ROOT}/deno.json`,
        "scripts/demo.ts",
        "--for",
        "300",
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", DENO_DIR, INIT_CWD: ROOT },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = demo.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const logs = (async () => {
      let text = "";
      for (;;) {
        const { done, value } = await stderr.read();
        if (done) return text;
        text += value;
      }
    })();
    const stdout = demo.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let output = "";
    try {
      output = await readUntil(stdout, "Stopping in 300 s.");
      const hints = output.split("\nTry:\n")[1]!.split("\nStopping")[0]!.split("\n")
        .map((line) => line.trim()).filter(Boolean);
      assertEquals(hints.length, 9, output);
      const results: string[] = [];
      for (const hint of hints) {
        const out = await new Deno.Command("sh", {
          args: ["-c", hint],
          cwd: ROOT,
          env: {
            NO_COLOR: "1",
            DENO_DIR,
            PATH: `${Deno.execPath().replace(/\/[^/]*$/, "")}:${Deno.env.get("PATH")}`,
          },
          stdin: "null",
        }).output();
        const text = decoder.decode(out.stdout);
        assertEquals(out.code, 0, `${hint}: ${decoder.decode(out.stderr)}`);
        results.push(text);
      }
      const [index, ids, sandboxes, metrics, cores, discover, node, stats, usage] = results as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      assertStringIncludes(index, "/metrics");
      assertEquals(ids.trim().split("\n").length, 5, ids);
      const views = JSON.parse(sandboxes) as { name: string; namespace: string }[];
      assertEquals(views.map((s) => s.name).filter(Boolean).length, 5, sandboxes);
      assertStringIncludes(metrics, "kata_guest_meminfo{");
      assert(
        /^container_memory_\w+\{[^}]*pod="milvus-demo-querynode-0"/m.test(metrics),
        "no container_memory series of the pod",
      );
      const [stored] = JSON.parse(cores) as {
        state: string;
        pod: string;
        ai: { state: string; result: { summary: string } } | null;
      }[];
      assertEquals([stored?.state, stored?.pod], ["stored", "milvus-demo-querynode-0"]);
      assertEquals(stored?.ai?.state, "explained");
      assert((stored?.ai?.result.summary.length ?? 0) > 0, cores);
      assertStringIncludes(discover, "milvus-demo-querynode-0");
      assertStringIncludes(discover, "(from the daemon)");
      assert(/^node_load1 \d/m.test(node), node);
      assert(/^node_memory_MemAvailable_bytes \d/m.test(node), node);
      assertStringIncludes(stats, "CPU%");
      assertStringIncludes(stats, "MEMORY");
      assertStringIncludes(usage, "gpt-emulated");
    } finally {
      demo.kill("SIGINT");
      const status = await demo.status;
      output += await (async () => {
        let rest = "";
        for (;;) {
          const { done, value } = await stdout.read();
          if (done) return rest;
          rest += value;
        }
      })();
      const log = await logs;
      assertStringIncludes(output, "Demo stopped;", log);
      assertEquals(status.code, 0, log);
    }
  },
});
