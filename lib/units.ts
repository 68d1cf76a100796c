/**
 * Durations ("30d", "1h30m", "500ms") and byte sizes ("50GB", "100MiB") as written in
 * configuration files and flags. A top-level module of its own, without the schema: code that
 * only formats a size (the score's reasons) does not load zod with it.
 *
 * @module
 */

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Parses a duration into milliseconds. A bare number means seconds (as in
 * `KATA_PULSE_METRICS_INTERVAL=60`). Returns `undefined` when the text is not a duration.
 *
 * @example Usage
 * ```ts
 * parseDuration("1h30m"); // 5400000
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(trimmed)) return undefined;
  let total = 0;
  for (const [, value, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) {
    total += Number(value) * DURATION_UNITS[unit!]!;
  }
  return Math.round(total);
}

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
};

/**
 * Parses a byte size: SI units (`KB`, `MB`, `GB`, `TB`, powers of 1000) or binary units
 * (`KiB`, `MiB`, `GiB`, `TiB`, or Kubernetes' `Ki`, `Mi`, `Gi`, `Ti`). Case-insensitive.
 * Returns `undefined` when the text is not a size.
 *
 * @example Usage
 * ```ts
 * parseBytes("100MB"); // 100000000
 * parseBytes("1GiB"); // 1073741824
 * ```
 */
export function parseBytes(text: string | number): number | undefined {
  if (typeof text === "number") {
    return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  }
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = BYTE_UNITS[match[2]!.toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(match[1]) * unit);
}

/**
 * Formats a byte count for people: `1.5 GiB`, `300 KiB`, `12 B`.
 *
 * @example Usage
 * ```ts
 * formatBytes(1536); // "1.5 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : Number(value.toFixed(1))} ${units[unit]}`;
}
