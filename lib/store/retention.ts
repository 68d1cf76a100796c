/**
 * Retention: which stored cores to delete, as a plan built by a pure function
 * ({@linkcode planRetention}), and the deletion of a plan's objects
 * ({@linkcode applyRetention}). The same policies apply to every backend.
 *
 * The policies are applied in this order, each to what the previous ones keep, and an object
 * planned for deletion carries the reason of the first policy that took it:
 *
 * 1. `maxAge`: cores that crashed longer ago than this (`metadata.crashTime`, else the time
 *    they were stored);
 * 2. `maxPerGroup`: a crash group (the same instance and fingerprint) keeps its first core
 *    and its most recent ones, `maxPerGroup` in all;
 * 3. `maxBytes`: while the kept cores take more than this, the lowest-scored (then the
 *    oldest) go first;
 * 4. `minFreeBytes`: when the store's filesystem has less free space than this, cores go in
 *    the same order until deleting them would free enough.
 *
 * A policy value of 0 disables that policy.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import type { CoreRecord } from "./core_index.ts";
import type { Store, StoredObject } from "./backend.ts";
import { errorMessage } from "../errors.ts";

/** What to keep. Every value 0 disables its policy. */
export interface RetentionPolicy {
  /** Milliseconds: delete cores that crashed longer ago. */
  maxAge: number;
  /** Bytes: the most the stored cores may take together. */
  maxBytes: number;
  /** Cores a crash group keeps: its first and its most recent ones. */
  maxPerGroup: number;
  /** Bytes: the least free space to leave on the store's filesystem. */
  minFreeBytes: number;
}

/**
 * The retention policy the configuration sets (`storage.retention.*`, `storage.maxPerGroup`):
 * the one `agent prune` and the daemon apply.
 *
 * @example Usage
 * ```ts ignore
 * retentionPolicy(config.storage).maxAge; // 2592000000 (30 days)
 * ```
 */
export function retentionPolicy(
  storage: Pick<Config["storage"], "retention" | "maxPerGroup">,
): RetentionPolicy {
  return {
    maxAge: storage.retention.maxAge,
    maxBytes: storage.retention.maxBytes,
    maxPerGroup: storage.maxPerGroup,
    minFreeBytes: storage.retention.minFreeBytes,
  };
}

/** Which policy planned a deletion. */
export type RetentionRule = "maxAge" | "maxPerGroup" | "maxBytes" | "minFreeBytes";

/** One object the plan deletes. Field names are part of the `agent prune -o json` contract. */
export interface PlannedDeletion {
  key: string;
  uri: string;
  bytes: number;
  /** The crash time the policies used (ISO 8601), `null` when the object records none. */
  crashTime: string | null;
  /** `metadata.score`, `null` when absent. */
  score: number | null;
  /** `instance/fingerprint`, `null` for a core without a fingerprint. */
  group: string | null;
  rule: RetentionRule;
  /** For people: `older than 30d`, `group 3f9a... over 5`, `over max bytes 50GB`, ... */
  reason: string;
}

/** Objects and bytes. */
export interface RetentionTotals {
  objects: number;
  bytes: number;
}

/** What {@linkcode planRetention} decided. */
export interface RetentionPlan {
  policy: RetentionPolicy;
  /** The time the plan was made for (ISO 8601). */
  now: string;
  /** Free bytes on the store's filesystem when known, else `null`. */
  freeBytes: number | null;
  /** In the order the policies took them; each object at most once. */
  deletions: PlannedDeletion[];
  kept: RetentionTotals;
  deleted: RetentionTotals;
}

interface Candidate {
  object: StoredObject;
  index: number;
  /** Milliseconds since the epoch; `NaN` when unknown. */
  time: number;
  score: number;
  group: string | null;
}

/**
 * Plans which objects to delete under `policy` at `now`. `freeBytes` is the free space of
 * the store's filesystem; without it (S3) `minFreeBytes` does nothing. The plan does not
 * depend on the order of `objects`. A core without a crash time (neither
 * `metadata.crashTime` nor `storedAt` readable) counts as the oldest when ordering, but is
 * never "older than" `maxAge`.
 *
 * @example Usage
 * ```ts ignore
 * const objects = await Array.fromAsync(store.list());
 * const plan = planRetention(objects, {
 *   maxAge: 30 * 86_400_000,
 *   maxBytes: 50e9,
 *   maxPerGroup: 5,
 *   minFreeBytes: 1e9,
 * }, new Date(), await store.freeBytes());
 * plan.deletions.map((d) => `${d.key}: ${d.reason}`);
 * ```
 */
export function planRetention(
  objects: readonly StoredObject[],
  policy: RetentionPolicy,
  now: Date,
  freeBytes?: number,
): RetentionPlan {
  const candidates = objects.map((object, index) => candidate(object, index)).sort(byTime);
  const deletions: PlannedDeletion[] = [];
  const deleted = new Set<Candidate>();
  const take = (c: Candidate, rule: RetentionRule, reason: string) => {
    deleted.add(c);
    deletions.push(deletion(c, rule, reason));
  };
  const kept = () => candidates.filter((c) => !deleted.has(c));

  if (policy.maxAge > 0) {
    const reason = `older than ${formatDuration(policy.maxAge)}`;
    for (const c of candidates) {
      if (now.getTime() - c.time > policy.maxAge) take(c, "maxAge", reason);
    }
  }

  if (policy.maxPerGroup > 0) {
    const groups = new Map<string, Candidate[]>();
    for (const c of kept()) {
      if (c.group === null) continue;
      const members = groups.get(c.group);
      if (members) members.push(c);
      else groups.set(c.group, [c]);
    }
    for (const group of [...groups.keys()].sort(compareText)) {
      const members = groups.get(group)!;
      // The first core shows when the bug began; the most recent ones show it as it is now.
      const excess = members.slice(1, members.length - (policy.maxPerGroup - 1));
      const reason = `group ${shortFingerprint(members[0]!)} over ${policy.maxPerGroup}`;
      for (const c of excess) take(c, "maxPerGroup", reason);
    }
  }

  if (policy.maxBytes > 0) {
    let total = sum(kept());
    const reason = `over max bytes ${formatSize(policy.maxBytes)}`;
    for (const c of kept().sort(byValue)) {
      if (total <= policy.maxBytes) break;
      take(c, "maxBytes", reason);
      total -= c.object.bytes;
    }
  }

  if (policy.minFreeBytes > 0 && freeBytes !== undefined && Number.isFinite(freeBytes)) {
    let free = freeBytes + sum([...deleted]);
    const reason = `free space below ${formatSize(policy.minFreeBytes)}`;
    for (const c of kept().sort(byValue)) {
      if (free >= policy.minFreeBytes) break;
      take(c, "minFreeBytes", reason);
      free += c.object.bytes;
    }
  }

  const remaining = kept();
  return {
    policy: { ...policy },
    now: now.toISOString(),
    freeBytes: freeBytes !== undefined && Number.isFinite(freeBytes) ? freeBytes : null,
    deletions,
    kept: { objects: remaining.length, bytes: sum(remaining) },
    deleted: { objects: deleted.size, bytes: sum([...deleted]) },
  };
}

function candidate(object: StoredObject, index: number): Candidate {
  const metadata = object.metadata ?? {};
  const crash = typeof metadata.crashTime === "string" ? Date.parse(metadata.crashTime) : NaN;
  const time = Number.isFinite(crash) ? crash : Date.parse(object.storedAt);
  const score = typeof metadata.score === "number" && Number.isFinite(metadata.score)
    ? metadata.score
    : 0;
  const fingerprint = typeof metadata.fingerprint === "string" ? metadata.fingerprint : "";
  const instance = typeof metadata.instance === "string" && metadata.instance !== ""
    ? metadata.instance
    : object.key.includes("/")
    ? object.key.slice(0, object.key.indexOf("/"))
    : "";
  return {
    object,
    index,
    time,
    score,
    group: fingerprint === "" ? null : `${instance}/${fingerprint}`,
  };
}

function deletion(c: Candidate, rule: RetentionRule, reason: string): PlannedDeletion {
  const score = c.object.metadata?.score;
  return {
    key: c.object.key,
    uri: c.object.uri,
    bytes: c.object.bytes,
    crashTime: Number.isFinite(c.time) ? new Date(c.time).toISOString() : null,
    score: typeof score === "number" && Number.isFinite(score) ? score : null,
    group: c.group,
    rule,
    reason,
  };
}

function shortFingerprint(c: Candidate): string {
  const fingerprint = c.group!.slice(c.group!.lastIndexOf("/") + 1);
  return fingerprint.length > 4 ? `${fingerprint.slice(0, 4)}\u2026` : fingerprint;
}

function sum(candidates: readonly Candidate[]): number {
  return candidates.reduce((total, c) => total + c.object.bytes, 0);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Unknown times first: they are treated as the oldest. */
function orderTime(time: number): number {
  return Number.isFinite(time) ? time : -Infinity;
}

/** Oldest first, then by key: the order groups and ages are read in. */
function byTime(a: Candidate, b: Candidate): number {
  return orderTime(a.time) - orderTime(b.time) || compareText(a.object.key, b.object.key) ||
    a.index - b.index;
}

/** Least valuable first: lowest score, then oldest. */
function byValue(a: Candidate, b: Candidate): number {
  return a.score - b.score || byTime(a, b);
}

const DURATION_UNITS: [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/** `30d`, `1h30m`, `500ms`: the way durations are written in the configuration. */
function formatDuration(ms: number): string {
  let rest = Math.round(ms);
  let text = "";
  for (const [unit, size] of DURATION_UNITS) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text || "0s";
}

const SIZE_UNITS: [string, number][] = [
  ["TB", 1e12],
  ["TiB", 2 ** 40],
  ["GB", 1e9],
  ["GiB", 2 ** 30],
  ["MB", 1e6],
  ["MiB", 2 ** 20],
  ["KB", 1e3],
  ["KiB", 2 ** 10],
];

/** `50GB`, `16MiB`, `1234B`: exact, the way sizes are written in the configuration. */
function formatSize(bytes: number): string {
  const unit = SIZE_UNITS.find(([, size]) => bytes >= size && bytes % size === 0);
  return unit ? `${bytes / unit[1]}${unit[0]}` : `${bytes}B`;
}

/**
 * The policy in words, each disabled one as `off`.
 *
 * @example Usage
 * ```ts
 * describePolicy({ maxAge: 30 * 86_400_000, maxBytes: 50e9, maxPerGroup: 5, minFreeBytes: 0 });
 * // "max age 30d, max bytes 50GB, max per group 5, min free off"
 * ```
 */
export function describePolicy(policy: RetentionPolicy): string {
  const value = (n: number, format: (n: number) => string) => n > 0 ? format(n) : "off";
  return [
    `max age ${value(policy.maxAge, formatDuration)}`,
    `max bytes ${value(policy.maxBytes, formatSize)}`,
    `max per group ${value(policy.maxPerGroup, String)}`,
    `min free ${value(policy.minFreeBytes, formatSize)}`,
  ].join(", ");
}

/**
 * A stored object as the core index records it, so that a plan can be made without listing
 * the store (cheaper on S3); `undefined` for a record that is not a stored core.
 *
 * @example Usage
 * ```ts ignore
 * const objects = index.list({ states: ["stored"] }).flatMap((r) => indexedObject(r) ?? []);
 * ```
 */
export function indexedObject(record: CoreRecord): StoredObject | undefined {
  if (record.state !== "stored" || record.storedKey === null) return undefined;
  const metadata: Record<string, unknown> = {};
  if (record.crashTime !== null) metadata.crashTime = record.crashTime;
  if (record.score !== null) metadata.score = record.score;
  if (record.fingerprint !== null) metadata.fingerprint = record.fingerprint;
  if (record.instance !== null) metadata.instance = record.instance;
  return {
    key: record.storedKey,
    uri: record.storedUri ?? "",
    bytes: record.storedBytes ?? 0,
    sha256: record.sha256 ?? "",
    compression: record.storedKey.endsWith(".zst") ? "zstd" : "gzip",
    storedAt: record.updatedAt,
    metadata,
  };
}

/** What became of one planned deletion. Field names are part of the JSON contract. */
export interface DeletionResult extends PlannedDeletion {
  /**
   * `deleted`; `failed` (the store refused); `skipped` (not tried: cancelled, or too many
   * failures in a row).
   */
  outcome: "deleted" | "failed" | "skipped";
  /** Why it failed or was skipped, or what went wrong after deleting it; else `null`. */
  error: string | null;
}

/** Options of {@linkcode applyRetention}. */
export interface ApplyRetentionOptions {
  /**
   * Called once an object is deleted (to record it in the core index); an error it throws is
   * reported in that object's result, and the deletions go on.
   */
  onDeleted?: (deletion: PlannedDeletion) => void | Promise<void>;
  /** Called after each object, deleted or not. */
  onProgress?: (done: number, total: number) => void;
  /** Stops starting new deletions; the rest are `skipped`. */
  signal?: AbortSignal;
  /** Deletions in flight at once (default 1: one by one). */
  concurrency?: number;
  /**
   * Stops after this many failures in a row (default 10): a store that refuses every
   * deletion is down, and trying the remaining thousands would only take long.
   */
  maxConsecutiveFailures?: number;
}

/**
 * Deletes the plan's objects from `store`, at most `concurrency` at a time, carrying on past
 * a failed one; returns one result per planned deletion, in the plan's order. Never throws
 * for a deletion that fails.
 *
 * @example Usage
 * ```ts ignore
 * const results = await applyRetention(store, plan, {
 *   onDeleted: (d) => index.markPruned(d.key, d.reason),
 * });
 * results.filter((r) => r.outcome !== "deleted");
 * ```
 */
export async function applyRetention(
  store: Pick<Store, "delete">,
  plan: Pick<RetentionPlan, "deletions">,
  options: ApplyRetentionOptions = {},
): Promise<DeletionResult[]> {
  const total = plan.deletions.length;
  const limit = Math.max(1, Math.floor(options.concurrency ?? 1));
  const maxFailures = Math.max(1, options.maxConsecutiveFailures ?? 10);
  const results = new Array<DeletionResult>(total);
  let next = 0;
  let done = 0;
  let failuresInARow = 0;
  const stopReason = () =>
    options.signal?.aborted
      ? "cancelled"
      : failuresInARow >= maxFailures
      ? `not tried: ${failuresInARow} deletions in a row failed`
      : undefined;
  const worker = async () => {
    while (next < total) {
      const index = next++;
      const planned = plan.deletions[index]!;
      const stop = stopReason();
      if (stop !== undefined) {
        results[index] = { ...planned, outcome: "skipped", error: stop };
      } else {
        try {
          await store.delete(planned.key);
          failuresInARow = 0;
          results[index] = { ...planned, outcome: "deleted", error: null };
          try {
            await options.onDeleted?.(planned);
          } catch (error) {
            results[index].error = `deleted, but: ${errorMessage(error)}`;
          }
        } catch (error) {
          failuresInARow++;
          results[index] = { ...planned, outcome: "failed", error: errorMessage(error) };
        }
      }
      options.onProgress?.(++done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, Math.max(1, total)) }, worker));
  return results;
}
