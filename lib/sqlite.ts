/**
 * SQLite statements prepared once per database and text, and run again. A prepared statement
 * holds SQLite's compiled program in native memory, which is freed only when V8, seeing a
 * wrapper of a few bytes, gets round to collecting it: a statement prepared per call grows the
 * process by its programs, not its heap (the core index, looked up on every write event of a
 * core being written, grew the daemon by ~290 MB that way).
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Most statements kept per database; texts built from arguments may vary. */
const MAX_STATEMENTS = 128;

const cache = new WeakMap<DatabaseSync, Map<string, StatementSync>>();

/**
 * `sql` prepared on `db`, once for every call with the same text. The statement is shared:
 * run it to completion (`run`, `get`, `all`) before preparing it again, never hold an
 * `iterate()` open across another use.
 *
 * @example Usage
 * ```ts ignore
 * const row = prepared(db, "SELECT * FROM cores WHERE id = ?").get(id);
 * ```
 */
export function prepared(db: DatabaseSync, sql: string): StatementSync {
  let statements = cache.get(db);
  if (statements === undefined) {
    statements = new Map();
    cache.set(db, statements);
  }
  let statement = statements.get(sql);
  if (statement === undefined) {
    if (statements.size >= MAX_STATEMENTS) statements.clear();
    statement = db.prepare(sql);
    statements.set(sql, statement);
  }
  return statement;
}
