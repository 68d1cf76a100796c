/**
 * Where detectors keep what they learned across restarts of the daemon: a table of the state
 * database, one row per watched thing (its key, the kind of state, the bytes, when written).
 * Rows not written for `maxAgeDays` are deleted when the watch saves, so series that went away
 * do not stay forever.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { prepared } from "../sqlite.ts";

/** A stored state. */
export interface Baseline {
  key: string;
  /** What wrote it (`detector:ensemble`, `vector:3`, `forecast`): a reader of another kind skips it. */
  kind: string;
  state: Uint8Array;
}

/** What the watch reads its baselines from and writes them to. */
export interface BaselineStore {
  /** The state stored for `key` by `kind`, if any. */
  load(key: string, kind: string): Uint8Array | undefined;
  /** Writes `baselines` (all at once), and deletes rows older than the store keeps. */
  save(baselines: Iterable<Baseline>, nowMs: number): void;
}

/** Baselines in the state database's table `anomaly_baselines`. */
export class SqliteBaselines implements BaselineStore {
  /** Opens (creating) the table in `db`; rows unwritten for `maxAgeDays` are deleted. */
  constructor(private readonly db: DatabaseSync, private readonly maxAgeDays = 7) {
    db.exec(`CREATE TABLE IF NOT EXISTS anomaly_baselines (
      key TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      state BLOB NOT NULL,
      updated_ms INTEGER NOT NULL
    )`);
  }

  load(key: string, kind: string): Uint8Array | undefined {
    const row = prepared(this.db, "SELECT kind, state FROM anomaly_baselines WHERE key = ?").get(
      key,
    ) as { kind: string; state: Uint8Array } | undefined;
    return row?.kind === kind ? row.state : undefined;
  }

  save(baselines: Iterable<Baseline>, nowMs: number): void {
    const upsert = prepared(
      this.db,
      `INSERT INTO anomaly_baselines (key, kind, state, updated_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, state = excluded.state,
       updated_ms = excluded.updated_ms`,
    );
    this.db.exec("BEGIN");
    try {
      for (const b of baselines) upsert.run(b.key, b.kind, b.state, nowMs);
      prepared(this.db, "DELETE FROM anomaly_baselines WHERE updated_ms < ?").run(
        nowMs - this.maxAgeDays * 86_400_000,
      );
      this.db.exec("COMMIT");
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /** How many baselines are stored. */
  count(): number {
    return (prepared(this.db, "SELECT count(*) AS n FROM anomaly_baselines").get() as { n: number })
      .n;
  }
}
