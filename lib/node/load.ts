/**
 * `load`: the load averages of `/proc/loadavg`, as node_exporter's loadavg collector.
 *
 * @module
 */
import type { NodeCollector } from "./collector.ts";
import { Families, readText, toNumber } from "./_read.ts";

/** node_load1, node_load5, node_load15. */
export const loadCollector: NodeCollector = {
  name: "load",
  description: "load averages (/proc/loadavg)",
  capabilities: { reads: ["proc/loadavg"] },
  async collect(context) {
    const path = `${context.paths.proc}/loadavg`;
    const text = await readText(context, path);
    if (text === undefined) throw new Error(`cannot read ${path}`);
    const fields = text.trim().split(/\s+/);
    const out = new Families();
    for (const [index, span] of ["1", "5", "15"].entries()) {
      const value = toNumber(fields[index]);
      if (value === undefined) {
        context.warn(path, `no ${span}m load average in "${text.trim()}"`);
        continue;
      }
      out.add(`node_load${span}`, `${span}m load average.`, "gauge", value);
    }
    return out.list();
  },
};
