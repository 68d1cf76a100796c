import { gunzipSync } from "node:zlib";
import { assert, assertEquals, assertStringIncludes } from "../../tests/support/assert.ts";
import { MetricsAggregator, servedName } from "./aggregate.ts";
import { parsePrometheusText } from "../prom/mod.ts";

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
  // gzipWith() is one valid gzip member: the cached body, then the tail.
  const unzipped = new TextDecoder().decode(gunzipSync(aggregator.gzipWith("own_metric 1\n")));
  assertEquals(unzipped, text + "own_metric 1\n");
  assertEquals(new TextDecoder().decode(aggregator.bytes()), text);
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
  // A failed scrape drops the sandbox's samples, a gone sandbox too.
  aggregator.update([{ id: A, text: undefined, scrapedAt: 1, pod: undefined }]);
  assertEquals(aggregator.size, 0);
  assertEquals(aggregator.render(), "");
  assert(aggregator.skippedLines === 0);
});
