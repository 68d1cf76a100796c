/**
 * Merging families that come from more than one source under one name (the Kata sandboxes'
 * cAdvisor-style series and the host's containers both serve `container_*`): the text
 * format allows one `# HELP`/`# TYPE` block per name, with all its samples together.
 *
 * @module
 */
import type { MetricFamily } from "./model.ts";

/**
 * Merges `families` by name, in the order names first appear: the first family of a name
 * gives its help and type, the samples of every family of that name follow in order, and a
 * sample whose name and labels were already seen is dropped (the first source wins), so the
 * result never holds a series twice.
 *
 * @example Usage
 * ```ts
 * const a = { name: "up", help: "", type: "gauge" as const, samples: [{ name: "up", labels: { job: "a" }, value: 1 }] };
 * const b = { ...a, samples: [{ name: "up", labels: { job: "b" }, value: 0 }] };
 * mergeFamilies([a, b])[0]!.samples.length; // 2
 * ```
 */
export function mergeFamilies(families: readonly MetricFamily[]): MetricFamily[] {
  const merged = new Map<string, { family: MetricFamily; seen: Set<string> }>();
  for (const family of families) {
    let entry = merged.get(family.name);
    if (entry === undefined) {
      entry = { family: { ...family, samples: [] }, seen: new Set() };
      merged.set(family.name, entry);
    }
    for (const sample of family.samples) {
      const key = `${sample.name}\0${
        Object.entries(sample.labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).flat()
          .join("\0")
      }`;
      if (entry.seen.has(key)) continue;
      entry.seen.add(key);
      entry.family.samples.push(sample);
    }
  }
  return [...merged.values()].map((entry) => entry.family);
}
