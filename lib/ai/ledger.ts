/**
 * The cost ledger and the crash-group cache, in the state database, so that spend, counts and
 * explanations survive restarts and are shared by every process on the node (the daemon,
 * `agent analyze core --ai`).
 *
 * - `ai_analyses`: one row per analysis of a crash group (`running`, `ok` with its result,
 *   `failed` with the reason, `skipped` when it made no request). The latest `ok` row of a
 *   fingerprint is the group's cached explanation. Every row but a skipped one counts
 *   towards `ai.maxAnalysisPerHour`.
 * - `ai_requests`: one row per request sent. A request is reserved before it is sent at its
 *   worst-case cost, in a transaction that first checks the month's spend plus that worst
 *   case against `ai.maxCostPerMonth`, and settled at the cost of the usage the provider
 *   reported. A request that was never settled (the process died) stays counted at its worst
 *   case, as does one that got no answer: the provider may have billed it.
 *
 * @module
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { AiResult } from "./result.ts";
import { prepared } from "../sqlite.ts";

/** Costs are kept in billionths of a currency unit: integers add up exactly. */
export const NANO = 1e9;

/**
 * The cost of tokens at `price` (currency units per million tokens), in billionths.
 *
 * @example Usage
 * ```ts
 * tokenCost(1000, 100, { input: 2.5, output: 10 }); // 3_500_000 (0.0035)
 * ```
 */
export function tokenCost(
  inputTokens: number,
  outputTokens: number,
  price: { input: number; output: number },
): number {
  return Math.round(inputTokens * price.input * 1000 + outputTokens * price.output * 1000);
}

/** The month (UTC) spend is counted in, as `YYYY-MM`. */
export function monthOf(time: Date): string {
  return time.toISOString().slice(0, 7);
}

/** How an analysis of a crash group ended. */
export type AnalysisStatus = "running" | "ok" | "failed" | "skipped";

/** An analysis as the ledger keeps it. */
export interface AnalysisRecord {
  id: number;
  fingerprint: string;
  status: AnalysisStatus;
  provider: string;
  model: string;
  /** The model the provider said answered. */
  answeredBy: string | null;
  startedAt: string;
  finishedAt: string | null;
  result: AiResult | null;
  error: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** In currency units. */
  cost: number;
  truncated: string[];
}

/** A request's outcome once it is over. */
export interface Settlement {
  /** In billionths of a currency unit. */
  costNano: number;
  inputTokens: number;
  outputTokens: number;
  /** `ok`, or why it failed (`rate_limited`, `server_error`, `timeout`...). */
  outcome: string;
}

/** The month's spend and counts, with the limits, for `agent ai usage` and the metrics. */
export interface UsageReport {
  month: string;
  /** In currency units. */
  cost: number;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** Analyses begun in the last hour (those that made or tried a request). */
  lastHour: number;
  /** This month's analyses by status. */
  analyses: Record<Exclude<AnalysisStatus, "running">, number> & { running: number };
  /** Crash groups with a cached explanation. */
  cachedGroups: number;
}

type Row = Record<string, SQLInputValue>;

const HOUR_MS = 3600_000;

function toAnalysis(row: Row): AnalysisRecord {
  return {
    id: Number(row.id),
    fingerprint: String(row.fingerprint),
    status: String(row.status) as AnalysisStatus,
    provider: String(row.provider),
    model: String(row.model),
    answeredBy: row.answered_by === null ? null : String(row.answered_by),
    startedAt: new Date(Number(row.started_at)).toISOString(),
    finishedAt: row.finished_at === null ? null : new Date(Number(row.finished_at)).toISOString(),
    result: row.result === null ? null : JSON.parse(String(row.result)) as AiResult,
    error: row.error === null ? null : String(row.error),
    requests: Number(row.requests ?? 0),
    inputTokens: Number(row.input_tokens ?? 0),
    outputTokens: Number(row.output_tokens ?? 0),
    cost: Number(row.cost ?? 0) / NANO,
    truncated: row.truncated === null ? [] : JSON.parse(String(row.truncated)) as string[],
  };
}

/** The ledger and the cache in the state database. */
export class AiLedger {
  /** Opens the ledger in `db`, creating its tables if needed. */
  constructor(readonly db: DatabaseSync) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS ai_analyses (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        status TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        answered_by TEXT,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        result TEXT,
        error TEXT,
        truncated TEXT
      );
      CREATE INDEX IF NOT EXISTS ai_analyses_group ON ai_analyses (fingerprint, status, id);
      CREATE INDEX IF NOT EXISTS ai_analyses_started ON ai_analyses (started_at);
      CREATE TABLE IF NOT EXISTS ai_requests (
        id INTEGER PRIMARY KEY,
        analysis_id INTEGER NOT NULL,
        month TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        model TEXT NOT NULL,
        settled INTEGER NOT NULL DEFAULT 0,
        reserved_nano INTEGER NOT NULL,
        cost_nano INTEGER,
        input_tokens INTEGER,
        output_tokens INTEGER,
        outcome TEXT
      );
      CREATE INDEX IF NOT EXISTS ai_requests_month ON ai_requests (month);
      CREATE INDEX IF NOT EXISTS ai_requests_analysis ON ai_requests (analysis_id);
    `);
  }

  /** Runs `fn` in a write transaction taken at once, so that checks and writes are one step. */
  #exclusive<T>(fn: () => T): T {
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * The month's spend in billionths: settled requests at their cost, the others at their
   * worst case.
   */
  monthCostNano(now: Date): number {
    const row = prepared(
      this.db,
      `SELECT COALESCE(SUM(CASE WHEN settled = 1 THEN cost_nano ELSE reserved_nano END), 0) AS cost
       FROM ai_requests WHERE month = ?`,
    ).get(monthOf(now)) as { cost: number };
    return Number(row.cost);
  }

  /** Analyses begun within the hour before `now`, skipped ones aside. */
  hourCount(now: Date): number {
    const row = prepared(
      this.db,
      "SELECT COUNT(*) AS n FROM ai_analyses WHERE started_at > ? AND status != 'skipped'",
    ).get(now.getTime() - HOUR_MS) as { n: number };
    return Number(row.n);
  }

  /** The crash group's cached explanation: its latest successful analysis. */
  cached(fingerprint: string): AnalysisRecord | undefined {
    const row = prepared(
      this.db,
      `${SELECT_ANALYSIS} WHERE a.fingerprint = ? AND a.status = 'ok' ORDER BY a.id DESC LIMIT 1`,
    ).get(fingerprint);
    return row ? toAnalysis(row as Row) : undefined;
  }

  /** The crash group's latest analysis that ended, successful or not. */
  latest(fingerprint: string): AnalysisRecord | undefined {
    const row = prepared(
      this.db,
      `${SELECT_ANALYSIS} WHERE a.fingerprint = ? AND a.status IN ('ok', 'failed')
       ORDER BY a.id DESC LIMIT 1`,
    ).get(fingerprint);
    return row ? toAnalysis(row as Row) : undefined;
  }

  /** An analysis by id. */
  analysis(id: number): AnalysisRecord | undefined {
    const row = prepared(this.db, `${SELECT_ANALYSIS} WHERE a.id = ?`).get(id);
    return row ? toAnalysis(row as Row) : undefined;
  }

  /**
   * Begins an analysis of a crash group unless `maxPerHour` analyses began within the hour;
   * returns its id, or `undefined` when the hourly limit is reached.
   */
  begin(
    fingerprint: string,
    provider: string,
    model: string,
    maxPerHour: number,
    now: Date,
  ): number | undefined {
    return this.#exclusive(() => {
      if (this.hourCount(now) >= maxPerHour) return undefined;
      const inserted = prepared(
        this.db,
        `INSERT INTO ai_analyses (fingerprint, status, provider, model, started_at)
         VALUES (?, 'running', ?, ?, ?)`,
      ).run(fingerprint, provider, model, now.getTime());
      return Number(inserted.lastInsertRowid);
    });
  }

  /**
   * Reserves a request of `analysisId` at its worst-case cost unless the month's spend plus
   * that would pass `maxPerMonth` (currency units); returns the request's id, or `undefined`
   * when it would.
   */
  reserve(
    analysisId: number,
    model: string,
    worstNano: number,
    maxPerMonth: number,
    now: Date,
  ): number | undefined {
    return this.#exclusive(() => {
      if (this.monthCostNano(now) + worstNano > Math.round(maxPerMonth * NANO)) return undefined;
      const inserted = prepared(
        this.db,
        `INSERT INTO ai_requests (analysis_id, month, started_at, model, reserved_nano)
         VALUES (?, ?, ?, ?, ?)`,
      ).run(analysisId, monthOf(now), now.getTime(), model, worstNano);
      return Number(inserted.lastInsertRowid);
    });
  }

  /** Records what a reserved request cost. */
  settle(requestId: number, settlement: Settlement): void {
    prepared(
      this.db,
      `UPDATE ai_requests SET settled = 1, cost_nano = ?, input_tokens = ?, output_tokens = ?,
       outcome = ? WHERE id = ?`,
    ).run(
      settlement.costNano,
      settlement.inputTokens,
      settlement.outputTokens,
      settlement.outcome,
      requestId,
    );
  }

  /** Ends an analysis. */
  finish(
    id: number,
    end: {
      status: Exclude<AnalysisStatus, "running">;
      result?: AiResult;
      error?: string;
      answeredBy?: string | null;
      truncated?: string[];
      now: Date;
    },
  ): AnalysisRecord {
    prepared(
      this.db,
      `UPDATE ai_analyses SET status = ?, result = ?, error = ?, answered_by = ?, truncated = ?,
       finished_at = ? WHERE id = ?`,
    ).run(
      end.status,
      end.result ? JSON.stringify(end.result) : null,
      end.error ?? null,
      end.answeredBy ?? null,
      JSON.stringify(end.truncated ?? []),
      end.now.getTime(),
      id,
    );
    return this.analysis(id)!;
  }

  /** The month's spend and counts. */
  usage(now: Date): UsageReport {
    const month = monthOf(now);
    const requests = prepared(
      this.db,
      `SELECT COUNT(*) AS n, COALESCE(SUM(input_tokens), 0) AS input,
       COALESCE(SUM(output_tokens), 0) AS output FROM ai_requests WHERE month = ?`,
    ).get(month) as { n: number; input: number; output: number };
    const start = Date.parse(`${month}-01T00:00:00Z`);
    const analyses = { running: 0, ok: 0, failed: 0, skipped: 0 };
    for (
      const row of prepared(
        this.db,
        "SELECT status, COUNT(*) AS n FROM ai_analyses WHERE started_at >= ? GROUP BY status",
      ).all(start) as { status: AnalysisStatus; n: number }[]
    ) analyses[row.status] = Number(row.n);
    const groups = prepared(
      this.db,
      "SELECT COUNT(DISTINCT fingerprint) AS n FROM ai_analyses WHERE status = 'ok'",
    ).get() as { n: number };
    return {
      month,
      cost: this.monthCostNano(now) / NANO,
      requests: Number(requests.n),
      inputTokens: Number(requests.input),
      outputTokens: Number(requests.output),
      lastHour: this.hourCount(now),
      analyses,
      cachedGroups: Number(groups.n),
    };
  }
}

/** An analysis with its requests' totals. */
const SELECT_ANALYSIS = `SELECT a.*,
  (SELECT COUNT(*) FROM ai_requests r WHERE r.analysis_id = a.id) AS requests,
  (SELECT COALESCE(SUM(r.input_tokens), 0) FROM ai_requests r WHERE r.analysis_id = a.id)
    AS input_tokens,
  (SELECT COALESCE(SUM(r.output_tokens), 0) FROM ai_requests r WHERE r.analysis_id = a.id)
    AS output_tokens,
  (SELECT COALESCE(SUM(CASE WHEN r.settled = 1 THEN r.cost_nano ELSE r.reserved_nano END), 0)
    FROM ai_requests r WHERE r.analysis_id = a.id) AS cost
  FROM ai_analyses a`;
