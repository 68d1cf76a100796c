/**
 * The daemon's AI work list, in the state database: every stored core it is to explain, with
 * the crash context taken when the core was stored (so a restarted daemon resumes without
 * reading the core again), and what became of it: `queued`, then `explained`, `cached`,
 * `skipped` or `failed`. `/cores` shows it beside each core.
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { CrashContext } from "./context.ts";
import type { Explanation } from "./explain.ts";
import { AiLedger } from "./ledger.ts";
import type { AiResult } from "./result.ts";
import { prepared } from "../sqlite.ts";

/** Where a core is in the AI stage. */
export type CoreAiState = "queued" | Explanation["status"];

/** What `/cores` shows of a core's AI stage. Field names are part of its JSON contract. */
export interface CoreAi {
  state: CoreAiState;
  reason: string | null;
  fingerprint: string;
  result: AiResult | null;
  provider: string | null;
  model: string | null;
  /** When the result was made (for a cached one, when the group's analysis was). */
  at: string | null;
}

/** A core waiting to be explained. */
export interface QueuedCore {
  coreId: number;
  fingerprint: string;
  score: number | null;
  context: CrashContext;
}

type Row = Record<string, SQLInputValue>;

/** The work list. */
export class AiCoreQueue {
  /** The ledger in the same database, whose analyses the list refers to. */
  readonly ledger: AiLedger;

  /** Opens the list in `db`, creating its table (and the ledger's, which it reads) if needed. */
  constructor(readonly db: DatabaseSync) {
    this.ledger = new AiLedger(db);
    db.exec(`
      CREATE TABLE IF NOT EXISTS ai_cores (
        core_id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        score REAL,
        context TEXT,
        state TEXT NOT NULL,
        reason TEXT,
        analysis_id INTEGER,
        at TEXT,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS ai_cores_state ON ai_cores (state, core_id);
    `);
  }

  /** Cores waiting. */
  pending(): number {
    const row = prepared(this.db, "SELECT COUNT(*) AS n FROM ai_cores WHERE state = 'queued'")
      .get() as { n: number };
    return Number(row.n);
  }

  /**
   * Queues a core unless it is known already; when `maxQueued` cores wait, it is recorded
   * as skipped instead. Returns whether it was queued.
   */
  enqueue(core: QueuedCore, maxQueued: number, now = new Date()): boolean {
    const full = this.pending() >= maxQueued;
    const inserted = prepared(
      this.db,
      `INSERT INTO ai_cores (core_id, fingerprint, score, context, state, reason, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (core_id) DO NOTHING`,
    ).run(
      core.coreId,
      core.fingerprint,
      core.score,
      full ? null : JSON.stringify(core.context),
      full ? "skipped" : "queued",
      full ? `${maxQueued} cores were waiting for the AI stage already` : null,
      now.toISOString(),
    );
    return Number(inserted.changes) === 1 && !full;
  }

  /** The core waiting longest. */
  next(): QueuedCore | undefined {
    const row = prepared(
      this.db,
      "SELECT * FROM ai_cores WHERE state = 'queued' ORDER BY core_id LIMIT 1",
    ).get() as Row | undefined;
    if (!row) return undefined;
    return {
      coreId: Number(row.core_id),
      fingerprint: String(row.fingerprint),
      score: row.score === null ? null : Number(row.score),
      context: JSON.parse(String(row.context)) as CrashContext,
    };
  }

  /** Records what became of a core; its context is no longer needed. */
  finish(
    coreId: number,
    state: Exclude<CoreAiState, "queued">,
    reason: string | null,
    analysisId: number | null,
    at: string | null,
    now = new Date(),
  ): void {
    prepared(
      this.db,
      `UPDATE ai_cores SET state = ?, reason = ?, analysis_id = ?, at = ?, context = NULL,
       updated_at = ? WHERE core_id = ?`,
    ).run(state, reason, analysisId, at, now.toISOString(), coreId);
  }

  /** The AI stage of the cores `ids`, joined with their group's analysis. */
  of(ids: readonly number[]): Map<number, CoreAi> {
    const found = new Map<number, CoreAi>();
    // In pieces: SQLite limits the parameters of one statement.
    for (let start = 0; start < ids.length; start += 500) {
      const part = ids.slice(start, start + 500);
      const rows = prepared(
        this.db,
        `SELECT c.core_id, c.fingerprint, c.state, c.reason, c.at, a.result, a.provider, a.model
         FROM ai_cores c LEFT JOIN ai_analyses a ON a.id = c.analysis_id
         WHERE c.core_id IN (${part.map(() => "?").join(", ")})`,
      ).all(...part) as Row[];
      for (const row of rows) {
        const state = String(row.state) as CoreAiState;
        const result = (state === "explained" || state === "cached") && row.result !== null
          ? JSON.parse(String(row.result)) as AiResult
          : null;
        found.set(Number(row.core_id), {
          state,
          reason: row.reason === null ? null : String(row.reason),
          fingerprint: String(row.fingerprint),
          result,
          provider: row.provider === null || row.provider === undefined
            ? null
            : String(row.provider),
          model: row.model === null || row.model === undefined ? null : String(row.model),
          at: row.at === null ? null : String(row.at),
        });
      }
    }
    return found;
  }
}

/**
 * The `.ai.json` stored beside a core's metadata: the explanation with where it came from.
 * Field names are part of the store's format.
 */
export function explanationDocument(
  core: { key: string; uri: string },
  explanation: Explanation,
): Record<string, unknown> {
  return {
    core: core.key,
    uri: core.uri,
    fingerprint: explanation.fingerprint,
    status: explanation.status,
    at: explanation.at,
    provider: explanation.provider,
    model: explanation.model,
    answeredBy: explanation.answeredBy,
    result: explanation.result,
    usage: explanation.usage,
    truncated: explanation.truncated,
  };
}
