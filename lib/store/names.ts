/**
 * How stored cores are named: object names built from the crash time, pod and container, and
 * every part made safe as one path component, so that nothing a core or a pod is called can
 * leave its folder or exceed a file name's 255 bytes.
 *
 * @module
 */

/**
 * Makes a name safe as one path component: anything but letters, digits, `.`, `_` and `-`
 * becomes `_`, and `.`/`..`/empty become `_`, so a pod named `../../etc` stays in its folder.
 *
 * @example Usage
 * ```ts
 * safeName("../../etc"); // ".._.._etc"
 * ```
 */
export function safeName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 200);
  return cleaned === "" || cleaned === "." || cleaned === ".." ? "_" : cleaned;
}

/**
 * The object name: `20261122T010203Z_pod_container.core.gz`, every part made safe as a
 * path component.
 *
 * @example Usage
 * ```ts
 * objectName(new Date("2026-11-22T01:02:03Z"), "querynode-0", "main", "zstd");
 * // "20261122T010203Z_querynode-0_main.core.zst"
 * ```
 */
export function objectName(
  time: Date,
  pod: string,
  container: string,
  compression: "gzip" | "zstd",
): string {
  const stamp = time.toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
  // Parts are cut so that the name, its `.json` and their temporary names stay well inside a
  // file name's 255 bytes; the metadata keeps the whole pod and container names.
  return `${stamp}_${safeName(pod).slice(0, 80)}_${safeName(container).slice(0, 40)}.core.${
    compression === "gzip" ? "gz" : "zst"
  }`;
}

/**
 * Makes an object name safe as one path component, as {@linkcode safeName} does, but cuts
 * a long one before its `.core....` extension rather than through it.
 *
 * @example Usage
 * ```ts
 * safeObjectName("x".repeat(300) + ".core.gz").endsWith("x.core.gz"); // true
 * ```
 */
export function safeObjectName(name: string): string {
  const dot = name.indexOf(".core.");
  if (dot < 0) return safeName(name).slice(0, MAX_OBJECT_NAME);
  const extension = safeName(name.slice(dot));
  return safeName(name.slice(0, dot)).slice(0, MAX_OBJECT_NAME - extension.length) + extension;
}

/** The longest object name: with `.json` and a temporary name's decorations, under 255. */
const MAX_OBJECT_NAME = 160;
