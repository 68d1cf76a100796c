/**
 * The state database: one SQLite file (WAL) under the state directory holding what must
 * survive a restart of the agent. Each feature owns its tables and creates them with
 * `CREATE TABLE IF NOT EXISTS` when it opens.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { UnavailableError } from "../errors.ts";

/**
 * Opens (creating if needed) the state database `state.db` in `dir`, or an in-memory one
 * for `":memory:"`.
 *
 * @throws {UnavailableError} when the directory or file cannot be created or opened.
 */
export async function openState(dir: string): Promise<DatabaseSync> {
  try {
    if (dir === ":memory:") return configure(new DatabaseSync(":memory:"));
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    return configure(new DatabaseSync(`${dir}/state.db`));
  } catch (error) {
    throw new UnavailableError(
      `Cannot open the state database in "${dir}": ${
        error instanceof Error ? error.message : error
      }`,
      { cause: error },
    );
  }
}

function configure(db: DatabaseSync): DatabaseSync {
  // The busy timeout first: switching to WAL takes a lock that another process opening the
  // same file at that moment (the daemon beside `agent collect`) may hold.
  db.exec("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  return db;
}
