/**
 * A server for bench/node.ts: each GET collects the node collectors named in Deno.args[1]
 * (comma-separated, or `all`) over this host and answers the exposition text, as the daemon's
 * node feature does but without its one-second cache, so that every scrape is a collection.
 *
 * Run: deno run -A bench/_node_server.ts PORT COLLECTORS
 *
 * @module
 */
import { collectNode, selectCollectors } from "../lib/node/mod.ts";
import { serializePrometheusText } from "../lib/prom/mod.ts";

const port = Number(Deno.args[0]);
const collectors = selectCollectors((Deno.args[1] ?? "all").split(","));
const paths = { proc: "/proc", sys: "/sys", dev: "/dev", rootfs: "/" };

Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async () => {
  const { families } = await collectNode(collectors, paths);
  return new Response(serializePrometheusText(families), {
    headers: { "content-type": "text/plain; version=0.0.4" },
  });
});
