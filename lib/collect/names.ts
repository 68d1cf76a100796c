/**
 * What a core's file name says: systemd-coredump's
 * `core.<comm>.<uid>.<bootid>.<pid>.<usec>[.zst|.lz4|.xz]`, or a name made by a
 * `core_pattern` template (`%e %p %P %s %t %h %u %g %E %c %%`). `%h` is the pod name for a
 * process in a pod (a pod's hostname is its name).
 *
 * @module
 */

/** Facts read from a core's file name. */
export interface CoreNameFacts {
  /** Which pattern matched: `systemd` or the template. */
  source: string;
  comm?: string;
  pid?: number;
  uid?: number;
  gid?: number;
  signal?: number;
  /** Crash time, from `%t` (seconds) or systemd's microseconds. */
  time?: Date;
  /** `%h`: the hostname, which is the pod name for a process in a pod. */
  hostname?: string;
  /** `%E`: the executable path (`!` stands for `/`). */
  executable?: string;
  bootId?: string;
  /** Compression told by the name's suffix. */
  compression?: "zstd" | "lz4" | "xz" | "gzip";
}

const SUFFIX = /\.(zst|lz4|xz|gz)$/;
const COMPRESSION = { zst: "zstd", lz4: "lz4", xz: "xz", gz: "gzip" } as const;

const SPECIFIERS: Record<
  string,
  { regex: string; field: keyof CoreNameFacts; parse?: (s: string) => unknown }
> = {
  e: { regex: "(.+?)", field: "comm" },
  p: { regex: "(\\d+)", field: "pid", parse: Number },
  P: { regex: "(\\d+)", field: "pid", parse: Number },
  i: { regex: "(\\d+)", field: "pid", parse: Number },
  I: { regex: "(\\d+)", field: "pid", parse: Number },
  u: { regex: "(\\d+)", field: "uid", parse: Number },
  g: { regex: "(\\d+)", field: "gid", parse: Number },
  s: { regex: "(\\d+)", field: "signal", parse: Number },
  t: { regex: "(\\d+)", field: "time", parse: (s) => new Date(Number(s) * 1000) },
  h: { regex: "([A-Za-z0-9][A-Za-z0-9.-]*?)", field: "hostname" },
  E: { regex: "([^/]+?)", field: "executable", parse: (s) => s.replaceAll("!", "/") },
};

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Parses a core's base name with systemd-coredump's scheme, then each template in order.
 * Returns `undefined` when none matches.
 *
 * @example Usage
 * ```ts
 * parseCoreName("core.milvus.1234.11.1763800000.querynode-0", ["core.%e.%p.%s.%t.%h"])?.hostname;
 * // "querynode-0"
 * ```
 */
export function parseCoreName(
  name: string,
  templates: readonly string[],
): CoreNameFacts | undefined {
  const suffix = SUFFIX.exec(name);
  const compression = suffix ? COMPRESSION[suffix[1] as keyof typeof COMPRESSION] : undefined;
  const bare = suffix ? name.slice(0, suffix.index) : name;
  const systemd = /^core\.(.+)\.(\d+)\.([0-9a-f]{32})\.(\d+)\.(\d+)$/.exec(bare);
  if (systemd) {
    return {
      source: "systemd",
      comm: systemd[1]!,
      uid: Number(systemd[2]),
      bootId: systemd[3]!,
      pid: Number(systemd[4]),
      time: new Date(Number(systemd[5]) / 1000),
      ...(compression ? { compression } : {}),
    };
  }
  for (const template of templates) {
    const fields: [keyof CoreNameFacts, ((s: string) => unknown) | undefined][] = [];
    let regex = "";
    for (let i = 0; i < template.length; i++) {
      const c = template[i]!;
      if (c === "%" && i + 1 < template.length) {
        const spec = template[++i]!;
        if (spec === "%") {
          regex += "%";
          continue;
        }
        const known = SPECIFIERS[spec];
        if (known) {
          regex += known.regex;
          fields.push([known.field, known.parse]);
        } else {
          regex += "(?:.*?)";
        }
      } else {
        regex += escape(c);
      }
    }
    const match = new RegExp(`^${regex}$`).exec(bare);
    if (!match) continue;
    const facts: Record<string, unknown> = { source: template };
    fields.forEach(([field, parse], index) => {
      const value = match[index + 1]!;
      facts[field] = parse ? parse(value) : value;
    });
    if (compression) facts.compression = compression;
    return facts as unknown as CoreNameFacts;
  }
  return undefined;
}
