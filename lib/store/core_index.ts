/**
 * The core index: every core the agent has seen, in the state database, with where it is in
 * the pipeline. A core is identified by its file's device, inode, size and modification time,
 * so a restarted agent recognises the cores it has handled, and a file replaced under the
 * same name is a new core.
 *
 * States: `seen` (found, not analyzed yet), `analyzed`, `storing` (a put is under way; its
 * object name is reserved), `stored`, `skipped` (analyzed but not kept: low score or a full
 * crash group), `pruned` (stored, then removed by retention), `failed` (retried with backoff
 * while `retryAt` is set; for good when the core vanished), `quarantined` (the agent cannot
 * process it: not a core, corrupt, or still failing when the attempts ran out; its file is
 * kept where it is and never touched again).
 *
 * Several processes may share the index (the daemon, `agent collect` runs, the core_pattern
 * pipe helper). Whoever works on a core first claims it: a lease in the database, renewed
 * while the work goes on, taken over only when it has expired or its holder, a process on
 * this host, is gone. Every change a claimant makes is conditional on still holding it.
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import { prepared } from "../sqlite.ts";
import { AgentError, ExitCode } from "../errors.ts";

/** Where a core is in the pipeline. */
export type CoreState =
  | "seen"
  | "analyzed"
  | "storing"
  | "stored"
  | "skipped"
  | "pruned"
  | "failed"
  | "quarantined";

/** Every state, in pipeline order. */
export const CORE_STATES: readonly CoreState[] = [
  "seen",
  "analyzed",
  "storing",
  "stored",
  "skipped",
  "pruned",
  "failed",
  "quarantined",
];

/**
 * Thrown when a claimant's change is refused because its claim on the core has expired and
 * another process holds it now: the other process carries the core on.
 */
export class ClaimLostError extends AgentError {
  /** Creates the error for the core at `path`. */
  constructor(path: string) {
    super(`Core "${path}" was taken over by another collector`, ExitCode.Unavailable);
  }
}

/** How a core was tied to a pod. */
export interface CoreMatch {
  /** `hostname`, `cgroup`, `kernel-log`, `restart-window`, or `none`. */
  method: string;
  /** `high`, `medium`, `low`, or `none` (unmatched or ambiguous). */
  confidence: "high" | "medium" | "low" | "none";
  detail: string;
}

/** One rule of a core's score: points added (or taken off) and why. */
export interface ScoreLine {
  rule: string;
  points: number;
  detail: string;
}

/** One core in the index. Field names are part of the `/cores` JSON contract. */
export interface CoreRecord {
  id: number;
  path: string;
  identity: string;
  size: number;
  state: CoreState;
  firstSeen: string;
  updatedAt: string;
  crashTime: string | null;
  namespace: string | null;
  pod: string | null;
  container: string | null;
  instance: string | null;
  node: string | null;
  match: CoreMatch | null;
  signal: string | null;
  crashReason: string | null;
  fingerprint: string | null;
  score: number | null;
  /** The rules that made the score (cores indexed before it was kept have none). */
  breakdown: ScoreLine[] | null;
  storedKey: string | null;
  storedUri: string | null;
  storedBytes: number | null;
  sha256: string | null;
  /** Why it was skipped or pruned. */
  reason: string | null;
  error: string | null;
  attempts: number;
  /** When a failed core is tried again (ISO time). */
  retryAt: string | null;
  originalDeleted: boolean;
}

/** The fields {@linkcode CoreIndex.update} can change. */
export type CorePatch = Partial<Omit<CoreRecord, "id" | "path" | "identity" | "firstSeen">>;

const COLUMNS: Record<keyof CorePatch, string> = {
  size: "size",
  state: "state",
  updatedAt: "updated_at",
  crashTime: "crash_time",
  namespace: "namespace",
  pod: "pod",
  container: "container",
  instance: "instance",
  node: "node",
  match: "match",
  signal: "signal",
  crashReason: "crash_reason",
  fingerprint: "fingerprint",
  score: "score",
  breakdown: "breakdown",
  storedKey: "stored_key",
  storedUri: "stored_uri",
  storedBytes: "stored_bytes",
  sha256: "sha256",
  reason: "reason",
  error: "error",
  attempts: "attempts",
  retryAt: "retry_at",
  originalDeleted: "original_deleted",
};

type Row = Record<string, SQLInputValue>;

function toRecord(row: Row): CoreRecord {
  return {
    id: Number(row.id),
    path: String(row.path),
    identity: String(row.identity),
    size: Number(row.size),
    state: row.state as CoreState,
    firstSeen: String(row.first_seen),
    updatedAt: String(row.updated_at),
    crashTime: row.crash_time as string | null,
    namespace: row.namespace as string | null,
    pod: row.pod as string | null,
    container: row.container as string | null,
    instance: row.instance as string | null,
    node: row.node as string | null,
    match: row.match === null ? null : JSON.parse(String(row.match)) as CoreMatch,
    signal: row.signal as string | null,
    crashReason: row.crash_reason as string | null,
    fingerprint: row.fingerprint as string | null,
    score: row.score === null ? null : Number(row.score),
    breakdown: row.breakdown === null || row.breakdown === undefined
      ? null
      : JSON.parse(String(row.breakdown)) as ScoreLine[],
    storedKey: row.stored_key as string | null,
    storedUri: row.stored_uri as string | null,
    storedBytes: row.stored_bytes === null ? null : Number(row.stored_bytes),
    sha256: row.sha256 as string | null,
    reason: row.reason as string | null,
    error: row.error as string | null,
    attempts: Number(row.attempts),
    retryAt: row.retry_at as string | null,
    originalDeleted: Number(row.original_deleted) === 1,
  };
}

function toColumn(key: keyof CorePatch, value: unknown): SQLInputValue {
  if (value === undefined || value === null) return null;
  if (key === "match" || key === "breakdown") return JSON.stringify(value);
  if (key === "originalDeleted") return value ? 1 : 0;
  return value as SQLInputValue;
}

/** The identity of a core file: device, inode, size and modification time. */
export function fileIdentity(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino ?? 0}:${info.size}:${info.mtime?.getTime() ?? 0}`;
}

/** Columns added after the first release, created in older state databases on open. */
const ADDED_COLUMNS: Record<string, string> = {
  owner: "owner TEXT",
  lease_until: "lease_until INTEGER",
  breakdown: "breakdown TEXT",
};

/** Whether `error` is SQLite refusing a value a UNIQUE column already holds. */
function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && /UNIQUE constraint failed/.test(error.message);
}

/** The index of cores in the state database. */
export class CoreIndex {
  /** Opens the index in `db`, creating its table if needed. */
  constructor(readonly db: DatabaseSync) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS cores (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        identity TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        state TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        crash_time TEXT,
        namespace TEXT, pod TEXT, container TEXT, instance TEXT, node TEXT, match TEXT,
        signal TEXT, crash_reason TEXT, fingerprint TEXT, score REAL,
        stored_key TEXT UNIQUE, stored_uri TEXT, stored_bytes INTEGER, sha256 TEXT,
        reason TEXT, error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        retry_at TEXT,
        original_deleted INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS cores_group ON cores (instance, fingerprint, state);
      CREATE INDEX IF NOT EXISTS cores_state ON cores (state);
    `);
    const present = new Set(
      (db.prepare("PRAGMA table_info(cores)").all() as { name: string }[]).map((c) => c.name),
    );
    for (const [column, definition] of Object.entries(ADDED_COLUMNS)) {
      if (present.has(column)) continue;
      try {
        db.exec(`ALTER TABLE cores ADD COLUMN ${definition}`);
      } catch (error) {
        // Another process opening the same database added it first.
        if (!/duplicate column/.test(String(error))) throw error;
      }
    }
  }

  /** The core with this identity, if seen before. */
  get(identity: string): CoreRecord | undefined {
    const row = prepared(this.db, "SELECT * FROM cores WHERE identity = ?").get(identity);
    return row ? toRecord(row as Row) : undefined;
  }

  /** The core with this id. */
  byId(id: number): CoreRecord | undefined {
    const row = prepared(this.db, "SELECT * FROM cores WHERE id = ?").get(id);
    return row ? toRecord(row as Row) : undefined;
  }

  /** The core stored under `key`. */
  byKey(key: string): CoreRecord | undefined {
    const row = prepared(this.db, "SELECT * FROM cores WHERE stored_key = ?").get(key);
    return row ? toRecord(row as Row) : undefined;
  }

  /**
   * Records a core found at `path` (or returns its record when already known). Safe when
   * several processes see the same core at once: one inserts, the others read its record.
   */
  seen(core: { path: string; identity: string; size: number; crashTime: Date | null }): {
    record: CoreRecord;
    isNew: boolean;
  } {
    const now = new Date().toISOString();
    const inserted = prepared(
      this.db,
      `INSERT INTO cores (path, identity, size, state, first_seen, updated_at, crash_time)
       VALUES (?, ?, ?, 'seen', ?, ?, ?) ON CONFLICT (identity) DO NOTHING`,
    ).run(core.path, core.identity, core.size, now, now, core.crashTime?.toISOString() ?? null);
    return { record: this.get(core.identity)!, isNew: Number(inserted.changes) === 1 };
  }

  /**
   * Claims the core `id` for `owner` for `leaseMs`: succeeds when nobody holds it, `owner`
   * already does, the holder's lease has expired, or `isGone(holder)` says the holder no
   * longer runs. Returns the record as claimed, or `undefined` when another holder has it.
   */
  claim(
    id: number,
    owner: string,
    leaseMs: number,
    isGone: (holder: string) => boolean = () => false,
    now = Date.now(),
  ): CoreRecord | undefined {
    const row = prepared(this.db, "SELECT owner, lease_until FROM cores WHERE id = ?").get(id) as
      | { owner: string | null; lease_until: number | null }
      | undefined;
    if (!row) return undefined;
    const holder = row.owner;
    const free = holder === null || holder === owner || Number(row.lease_until ?? 0) < now ||
      isGone(holder);
    if (!free) return undefined;
    // Compare and swap: a process that claimed it in between wins.
    const taken = prepared(
      this.db,
      "UPDATE cores SET owner = ?, lease_until = ? WHERE id = ? AND owner IS ?",
    ).run(owner, now + leaseMs, id, holder);
    return Number(taken.changes) === 1 ? this.byId(id) : undefined;
  }

  /** Who holds a claim on `id` (expired or not), if anyone. */
  holder(id: number): string | undefined {
    const row = prepared(this.db, "SELECT owner FROM cores WHERE id = ?").get(id) as
      | { owner: string | null }
      | undefined;
    return row?.owner ?? undefined;
  }

  /** Extends `owner`'s claim on `id`; false when the claim has been lost. */
  renew(id: number, owner: string, leaseMs: number, now = Date.now()): boolean {
    const renewed = prepared(this.db, "UPDATE cores SET lease_until = ? WHERE id = ? AND owner = ?")
      .run(now + leaseMs, id, owner);
    return Number(renewed.changes) === 1;
  }

  /** Gives up `owner`'s claim on `id`, if it still holds it. */
  release(id: number, owner: string): void {
    prepared(
      this.db,
      "UPDATE cores SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ?",
    )
      .run(id, owner);
  }

  /**
   * Changes fields of a record; returns the record as it is now. With `owner`, the change
   * is made only while `owner` holds the claim.
   *
   * @throws {ClaimLostError} when `owner` no longer holds the claim.
   */
  update(id: number, patch: CorePatch, owner?: string): CoreRecord {
    const entries = Object.entries({ updatedAt: new Date().toISOString(), ...patch })
      .filter(([key]) => key in COLUMNS) as [keyof CorePatch, unknown][];
    const values = entries.map(([key, value]) => toColumn(key, value));
    const changed = prepared(
      this.db,
      `UPDATE cores SET ${entries.map(([key]) => `${COLUMNS[key]} = ?`).join(", ")} WHERE id = ?${
        owner === undefined ? "" : " AND owner = ?"
      }`,
    ).run(...values, id, ...(owner === undefined ? [] : [owner]));
    const record = this.byId(id)!;
    if (owner !== undefined && Number(changed.changes) === 0) throw new ClaimLostError(record.path);
    return record;
  }

  /**
   * Reserves a stored object name for a core (state `storing`): the name itself when free,
   * else with `-2`, `-3`... before the extension. The reservation makes a resumed agent reuse
   * the same name, so it can never store one core twice; the UNIQUE column makes two
   * processes reserving at once get different names.
   *
   * @throws {ClaimLostError} when `owner` is given and no longer holds the claim.
   */
  reserveKey(
    id: number,
    folder: string,
    name: string,
    uri: (key: string) => string,
    owner?: string,
  ): string {
    const dot = name.indexOf(".core.");
    const [stem, extension] = dot < 0 ? [name, ""] : [name.slice(0, dot), name.slice(dot)];
    for (let n = 1;; n++) {
      const key = `${folder}/${n === 1 ? stem : `${stem}-${n}`}${extension}`;
      const holder = this.byKey(key);
      if (holder && holder.id !== id) continue;
      try {
        this.update(id, { state: "storing", storedKey: key, storedUri: uri(key) }, owner);
        return key;
      } catch (error) {
        if (!isUniqueViolation(error)) throw error;
      }
    }
  }

  /** The stored cores of a crash group, oldest crash first. */
  group(instance: string, fingerprint: string): CoreRecord[] {
    return (prepared(
      this.db,
      `SELECT * FROM cores WHERE instance = ? AND fingerprint = ? AND state IN ('stored', 'storing')
       ORDER BY COALESCE(crash_time, first_seen), id`,
    ).all(instance, fingerprint) as Row[]).map(toRecord);
  }

  /** How many cores a crash group has had, in any state. */
  groupCount(instance: string, fingerprint: string): number {
    const row = prepared(
      this.db,
      "SELECT COUNT(*) AS n FROM cores WHERE instance = ? AND fingerprint = ?",
    ).get(instance, fingerprint) as { n: number };
    return Number(row.n);
  }

  /** How many cores of any instance and state have had this fingerprint. */
  fingerprintCount(fingerprint: string): number {
    const row = prepared(this.db, "SELECT COUNT(*) AS n FROM cores WHERE fingerprint = ?")
      .get(fingerprint) as { n: number };
    return Number(row.n);
  }

  /** Marks the core stored under `key` as pruned (retention removed it). */
  markPruned(key: string, reason: string): void {
    const record = this.byKey(key);
    if (record) this.update(record.id, { state: "pruned", reason });
  }

  /** Cores in the given states (every state when none given), most recent first. */
  list(options: { states?: CoreState[]; limit?: number } = {}): CoreRecord[] {
    const states = options.states ?? [];
    const where = states.length ? `WHERE state IN (${states.map(() => "?").join(", ")})` : "";
    return (prepared(
      this.db,
      `SELECT * FROM cores ${where} ORDER BY COALESCE(crash_time, first_seen) DESC, id DESC LIMIT ?`,
    ).all(...states, options.limit ?? -1) as Row[]).map(toRecord);
  }

  /** Cores still to be worked on: not finished, or stored with the original not yet removed. */
  pending(now: Date): CoreRecord[] {
    return (prepared(
      this.db,
      `SELECT * FROM cores
       WHERE state IN ('seen', 'analyzed', 'storing')
          OR (state = 'failed' AND retry_at IS NOT NULL AND retry_at <= ?)
       ORDER BY id`,
    ).all(now.toISOString()) as Row[]).map(toRecord);
  }

  /** How many cores are in each state. */
  counts(): Record<CoreState, number> {
    const counts: Record<CoreState, number> = {
      seen: 0,
      analyzed: 0,
      storing: 0,
      stored: 0,
      skipped: 0,
      pruned: 0,
      failed: 0,
      quarantined: 0,
    };
    for (
      const row of prepared(this.db, "SELECT state, COUNT(*) AS n FROM cores GROUP BY state")
        .all() as { state: CoreState; n: number }[]
    ) counts[row.state] = Number(row.n);
    return counts;
  }
}
