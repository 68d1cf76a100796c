/**
 * `pressure`: pressure stall information of `/proc/pressure/{cpu,memory,io}` (Linux 4.20 and
 * later, node_exporter's pressure collector): the total time tasks waited, and were all
 * stalled, for each resource.
 *
 * @module
 */
import type { NodeCollector } from "./collector.ts";
import { Families, readText, toNumber } from "./_read.ts";

const HELP = {
  cpu: ["waited for CPU time", "could make progress for want of CPU time"],
  memory: ["waited for memory", "could make progress due to memory congestion"],
  io: ["waited due to IO congestion", "could make progress due to IO congestion"],
} as const;

/** node_pressure_{cpu,memory,io}_{waiting,stalled}_seconds_total. */
export const pressureCollector: NodeCollector = {
  name: "pressure",
  description: "pressure stall information (/proc/pressure)",
  capabilities: { reads: ["proc/pressure"], minKernel: "4.20" },
  async collect(context) {
    const out = new Families();
    let read = 0;
    for (const resource of ["cpu", "memory", "io"] as const) {
      const path = `${context.paths.proc}/pressure/${resource}`;
      const text = await readText(context, path);
      if (text === undefined) continue;
      read++;
      for (const line of text.split("\n")) {
        const match = /^(some|full)\s.*\btotal=(\S+)/.exec(line);
        if (!match) continue;
        const micros = toNumber(match[2]);
        if (micros === undefined) {
          context.warn(path, `malformed line "${line.slice(0, 80)}"`);
          continue;
        }
        // The kernel writes a `full` cpu line that is always 0 (or none): node_exporter
        // exports cpu as waiting only.
        if (resource === "cpu" && match[1] === "full") continue;
        const [waited, stalled] = HELP[resource];
        const some = match[1] === "some";
        out.add(
          `node_pressure_${resource}_${some ? "waiting" : "stalled"}_seconds_total`,
          some
            ? `Total time in seconds that processes have ${waited}`
            : `Total time in seconds no process ${stalled}`,
          "counter",
          micros / 1e6,
        );
      }
    }
    if (read === 0) throw new Error(`cannot read ${context.paths.proc}/pressure`);
    return out.list();
  },
};
