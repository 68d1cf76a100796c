import { gunzipSync } from "node:zlib";
import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/support/assert.ts";
import { MetricsAggregator, servedName } from "./aggregate.ts";
import { collectGarbage } from "../gc.ts";
import { parsePrometheusText, SharedBody } from "../prom/mod.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);

function shim(threads: number): string {
  return [
    "# HELP go_threads Number of OS threads created.",
    "# TYPE go_threads gauge",
    `go_threads ${threads}`,
    "# HELP kata_shim_rpc_total RPCs.",
    "# TYPE kata_shim_rpc_total counter",
    `kata_shim_rpc_total{method="x"} ${threads * 2}`,
    "",
  ].join("\n");
}

Deno.test("servedName() renames go_ and process_ families as kata-monitor does", () => {
  assertEquals(
    ["go_threads", "process_open_fds", "kata_guest_load"].map(servedName),
    ["kata_shim_go_threads", "kata_shim_process_open_fds", "kata_guest_load"],
  );
});

Deno.test("MetricsAggregator merges sandboxes under one HELP/TYPE with the sandbox labels first", () => {
  const aggregator = new MetricsAggregator();
  aggregator.update([
    { id: B, text: shim(7), scrapedAt: 0, pod: undefined },
    { id: A, text: shim(3), scrapedAt: 0, pod: { uid: "u", name: "web-0", namespace: "shop" } },
  ]);
  const text = aggregator.render();
  assertEquals(
    text.split("\n").filter((l) => l.startsWith("# TYPE kata_shim_go_threads")).length,
    1,
  );
  assertStringIncludes(
    text,
    `kata_shim_go_threads{sandbox_id="${A}",cri_uid="u",cri_name="web-0",cri_namespace="shop"} 3\n` +
      `kata_shim_go_threads{sandbox_id="${B}",cri_uid="",cri_name="",cri_namespace=""} 7\n`,
  );
  assertEquals(aggregator.render(), text, "the same body while nothing changes");
  const body = aggregator.body();
  assertEquals(new TextDecoder().decode(body.bytes), text);
  assert(aggregator.body() === body, "one body shared while nothing changes");
  // gzipWith() gives the pieces of one valid gzip member: the cached body, then the tail.
  for (const tail of ["own_metric 1\n", "own_metric 2\n"]) {
    const parts = body.gzipWith(new TextEncoder().encode(tail));
    const unzipped = new TextDecoder().decode(gunzipSync(concat(parts)));
    assertEquals(unzipped, text + tail);
  }
  assert(
    body.gzipWith(new Uint8Array(0))[0]!.buffer === body.gzipWith(new Uint8Array(0))[0]!.buffer,
    "the deflated body is shared, not copied",
  );
  // Filtered and OpenMetrics renderings parse back.
  const filtered = aggregator.render({ families: ["kata_shim_rpc"] });
  assertEquals(parsePrometheusText(filtered).map((f) => f.name), ["kata_shim_rpc_total"]);
  const om = aggregator.render({ openMetrics: true });
  const families = parsePrometheusText(om + "# EOF\n", { openMetrics: true });
  // The sandbox with a pod also has its cAdvisor series (only last_seen: no guest metrics).
  assertEquals(families.map((f) => [f.name, f.samples.length]), [
    ["container_last_seen", 1],
    ["kata_shim_go_threads", 2],
    ["kata_shim_rpc", 2],
  ]);
  assertEquals(new TextDecoder().decode(aggregator.body({ openMetrics: true }).bytes), om);
  // Without the derived series (the daemon merges them with the host's containers' own).
  const bare = parsePrometheusText(aggregator.render({ cadvisor: false })).map((f) => f.name);
  assertEquals(bare, ["kata_shim_go_threads", "kata_shim_rpc_total"]);
  assert(aggregator.body({ cadvisor: false }) !== body, "a body of its own");
  const derived = aggregator.cadvisorFamilies();
  assertEquals(derived.map((f) => [f.name, f.samples[0]?.labels.pod]), [
    ["container_last_seen", "web-0"],
  ]);
  assert(aggregator.cadvisorFamilies() === derived, "computed once per change");
  const omBody = aggregator.body({ openMetrics: true });
  assert(aggregator.body({ openMetrics: true }) === omBody);
  // A failed scrape drops the sandbox's samples, a gone sandbox too.
  aggregator.update([{ id: A, text: undefined, scrapedAt: 1, pod: undefined }]);
  assertEquals(aggregator.size, 0);
  assertEquals(aggregator.render(), "");
  assert(aggregator.body() !== body, "a change renders the body again");
  assertEquals(aggregator.body().bytes.length, 0);
  assert(aggregator.skippedLines === 0);
});

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

Deno.test("MetricsAggregator.updateInSlices() serves the old state until the new one is built", async () => {
  const ids = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(64, "0"));
  const scrapes = (threads: number) =>
    ids.map((id) => ({ id, text: shim(threads), scrapedAt: 0, pod: undefined }));
  const whole = new MetricsAggregator();
  whole.update(scrapes(5));
  const sliced = new MetricsAggregator();
  sliced.update(scrapes(4));
  const before = sliced.body({ cadvisor: false });
  let pauses = 0;
  const pending = sliced.updateInSlices(scrapes(5), {
    sliceMs: 0,
    pause: () => {
      pauses++;
      // Between slices the previous state is still the one served, whole.
      assert(sliced.body({ cadvisor: false }) === before);
      return Promise.resolve();
    },
    prebuild: { cadvisor: false, gzip: true },
  });
  await pending;
  assert(pauses >= ids.length, `${pauses} pauses`);
  const after = sliced.body({ cadvisor: false });
  assert(after !== before, "the new state replaced the old one");
  assertEquals(sliced.render(), whole.render());
  assertEquals(new TextDecoder().decode(after.bytes), whole.render({ cadvisor: false }));
  const tail = new TextEncoder().encode("own_metric 1\n");
  assertEquals(
    new TextDecoder().decode(gunzipSync(concat(after.gzipWith(tail)))),
    whole.render() + "own_metric 1\n",
  );
});

Deno.test("SharedBody.gzipWith() stitches a body deflated in many pieces", () => {
  // About 1.5 MiB of varied text: six pieces of 256 KiB.
  let text = "";
  for (let i = 0; text.length < 1.5 * 2 ** 20; i++) text += `series_${i % 977}{i="${i}"} ${i}\n`;
  const body = new SharedBody(new TextEncoder().encode(text));
  let steps = 0;
  for (const _ of body.deflating()) steps++;
  assertEquals(steps, Math.ceil(body.bytes.length / (256 << 10)));
  const parts = body.gzipWith(new TextEncoder().encode("tail 1\n"));
  assertEquals(new TextDecoder().decode(gunzipSync(concat(parts))), text + "tail 1\n");
  // An empty body is a header and the tail's final block.
  const empty = new SharedBody(new Uint8Array(0));
  assertEquals(
    new TextDecoder().decode(gunzipSync(concat(empty.gzipWith(new TextEncoder().encode("x 1\n"))))),
    "x 1\n",
  );
});

Deno.test("MetricsAggregator.usage() gives each sandbox's CPUs and working set, pod or not", () => {
  const guest = (cpuMs: number) =>
    [
      "# TYPE kata_guest_cpu_time gauge",
      `kata_guest_cpu_time{cpu="total",item="user"} ${cpuMs}`,
      `kata_guest_cpu_time{cpu="total",item="system"} 0`,
      "# TYPE kata_guest_meminfo gauge",
      `kata_guest_meminfo{item="mem_total"} ${4 * 2 ** 30}`,
      `kata_guest_meminfo{item="mem_free"} ${3 * 2 ** 30}`,
      `kata_guest_meminfo{item="inactive_file"} ${2 ** 28}`,
      "",
    ].join("\n");
  const aggregator = new MetricsAggregator();
  aggregator.update([{ id: A, text: guest(1000), scrapedAt: 10_000, pod: undefined }]);
  assertEquals(aggregator.usage(A), {
    cpuSeconds: 1,
    memoryBytes: 2 ** 30 - 2 ** 28,
    memoryLimitBytes: 4 * 2 ** 30,
  });
  // 1.5 s of CPU in 2 s: 0.75 CPUs.
  aggregator.update([{ id: A, text: guest(2500), scrapedAt: 12_000, pod: undefined }]);
  assertEquals(aggregator.usage(A)?.cpuCores, 0.75);
  // No container_* series without a pod.
  assertEquals(aggregator.render({ families: ["container_"] }), "");
  assertEquals(aggregator.usage(B), undefined);
});

Deno.test("MetricsAggregator keeps the bodies given to answers whole when its state changes", async () => {
  const ids = Array.from({ length: 30 }, (_, i) => i.toString(16).padStart(64, "0"));
  const scrapes = (threads: number) =>
    ids.map((id) => ({ id, text: shim(threads), scrapedAt: 0, pod: undefined }));
  const fresh = (threads: number) => {
    const aggregator = new MetricsAggregator();
    aggregator.update(scrapes(threads));
    return aggregator.render({ cadvisor: false });
  };
  const tail = new TextEncoder().encode("own_metric 1\n");
  const aggregator = new MetricsAggregator();
  await aggregator.updateInSlices(scrapes(1), { prebuild: { cadvisor: false, gzip: true } });
  // Answers in flight: a plain one and a gzip one of the first state, as the route takes them.
  const first = aggregator.body({ cadvisor: false });
  let plain: Uint8Array[] | undefined = [first.bytes, tail];
  let gzip: Uint8Array[] | undefined = first.gzipWith(tail);
  const buffers = [plain[0]!.buffer as ArrayBuffer, gzip[0]!.buffer as ArrayBuffer];
  // Two changes of state, each built ahead with its gzip member, the first never served.
  await aggregator.updateInSlices(scrapes(2), { prebuild: { cadvisor: false, gzip: true } });
  const second = aggregator.body({ cadvisor: false });
  await aggregator.updateInSlices(scrapes(3), { prebuild: { cadvisor: false, gzip: true } });
  // The answers' arrays still hold the first state, whole and correct.
  const text = fresh(1) + "own_metric 1\n";
  assertEquals(new TextDecoder().decode(concat(plain)), text);
  assertEquals(new TextDecoder().decode(gunzipSync(concat(gzip))), text);
  assert(buffers.every((buffer) => !buffer.detached), "kept while answers hold them");
  // A retired body serves nothing.
  assertThrows(() => first.bytes, Error, "retired");
  assertThrows(() => second.gzipWith(tail), Error, "retired");
  assertEquals(
    new TextDecoder().decode(aggregator.body({ cadvisor: false }).bytes),
    fresh(3),
  );
  // Once the answers are done with them (their views collected), the arrays are freed.
  plain = gzip = undefined;
  await waitUntil(() => {
    collectGarbage();
    return buffers.every((buffer) => buffer.detached);
  });
});

Deno.test("SharedBody.retire() frees the arrays at once when no answer holds them", () => {
  const text = new TextEncoder().encode("series 1\n".repeat(1000));
  const bytes = text.slice();
  const body = new SharedBody(bytes);
  for (const _ of body.deflating());
  body.retire();
  assertEquals(bytes.length, 0, "freed at once");
  body.retire();
  const served = text.slice();
  const plain = new SharedBody(served);
  const view = plain.bytes;
  plain.retire();
  assertEquals(served.length, text.length, "kept for the answer that has it");
  assertEquals(new TextDecoder().decode(view), "series 1\n".repeat(1000));
});

/** Waits (up to 30 s, a macrotask at a time, so that finalizers run) until `check` holds. */
async function waitUntil(check: () => boolean): Promise<void> {
  const end = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > end) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
