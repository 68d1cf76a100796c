/**
 * The node's own performance on `/metrics`: the enabled collectors of `lib/node` (node
 * `node.collectors`), read over the host's trees (`node.procPath`…) when `/metrics` is
 * rendered, node_exporter's way, at most once a second whatever the number of scrapes. A
 * problem with a source (a missing file, a malformed line) is logged once.
 *
 * @module
 */
import { collectNode, type NodeCollector, selectCollectors } from "../../lib/node/mod.ts";
import { serializePrometheusText } from "../../lib/prom/mod.ts";
import type { Feature, FeatureContext } from "../feature.ts";

/** How long one collection serves the renderings that follow it. */
const MAX_AGE_MS = 1000;

/**
 * Distinct problems remembered so as to log each once; past this many (a host whose mounts
 * or devices come and go), the memory starts over and a problem may be logged again.
 */
const MAX_REPORTED = 1000;

/** Creates the node feature. */
export function nodeFeature(context: FeatureContext): Feature {
  const { config, log } = context;
  const collectors: NodeCollector[] = selectCollectors(config.node.collectors);
  const paths = {
    proc: config.node.procPath,
    sys: config.node.sysPath,
    dev: config.node.devPath,
    rootfs: config.node.rootfsPath,
  };
  const options = {
    topProcesses: config.node.topProcesses,
    cpuFlags: config.node.cpuFlags,
  };
  const reported = new Set<string>();
  let last: { at: number; text: Promise<string> } | undefined;
  return {
    name: "node",
    title: "node collectors",
    enabled: collectors.length > 0,
    start() {
      log.info("collecting node metrics", {
        collectors: collectors.map((c) => c.name).join(","),
        proc: paths.proc,
        sys: paths.sys,
      });
      return Promise.resolve();
    },
    stop: () => Promise.resolve(),
    ready: () => true,
    exposition() {
      const now = Date.now();
      if (last === undefined || now - last.at >= MAX_AGE_MS) {
        const text = collectNode(collectors, paths, options).then(({ families, problems }) => {
          for (const [source, reason] of problems) {
            const key = `${source}: ${reason}`;
            if (reported.has(key)) continue;
            if (reported.size >= MAX_REPORTED) reported.clear();
            reported.add(key);
            log.warn("node collector problem", { source, reason });
          }
          return serializePrometheusText(families);
        });
        last = { at: now, text };
      }
      return last.text;
    },
  };
}
