/**
 * Automatic cleanup of Milvus instances stuck in a crash loop: more than
 * `cleaner.maxRestartCount` panic restarts within `cleaner.restartTimeWindow` schedules an
 * uninstall after `cleaner.cleanupDelay`, cancelled if the instance recovers (the window no
 * longer holds too many panics when it is due) or disappears. Restarts and pending cleanups
 * live in the state database, so a restarted agent neither forgets a crash loop nor
 * uninstalls twice; the same restart seen twice counts once.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Config } from "../config/mod.ts";
import type { Logger } from "../log.ts";
import type { RestartEvent } from "./restarts.ts";
import { errorMessage } from "../errors.ts";
import { prepared } from "../sqlite.ts";

/** What happened to a due cleanup. */
export type CleanupOutcome = "uninstalled" | "dry-run" | "recovered" | "gone" | "failed";

/** Options of {@linkcode Cleaner}. */
export interface CleanerOptions {
  config: Config["cleaner"];
  db: DatabaseSync;
  /** Uninstalls an instance (plan and apply); throws on failure. */
  uninstall(namespace: string, name: string, reason: string): Promise<void>;
  /** Whether the instance still exists. */
  exists(namespace: string, name: string): Promise<boolean>;
  now?: () => number;
  log?: Logger;
}

/** A scheduled cleanup. */
export interface PendingCleanup {
  namespace: string;
  instance: string;
  dueAt: number;
  reason: string;
}

/** Counts panics per instance and uninstalls those in a crash loop. */
export class Cleaner {
  readonly #now: () => number;

  /** Creates the tables it needs. */
  constructor(private readonly options: CleanerOptions) {
    this.#now = options.now ?? Date.now;
    options.db.exec(`
      CREATE TABLE IF NOT EXISTS cleaner_restarts (
        namespace TEXT NOT NULL, instance TEXT NOT NULL, pod TEXT NOT NULL, container TEXT NOT NULL,
        restart_count INTEGER NOT NULL, at INTEGER NOT NULL,
        PRIMARY KEY (namespace, instance, pod, container, restart_count));
      CREATE TABLE IF NOT EXISTS cleaner_cleanups (
        namespace TEXT NOT NULL, instance TEXT NOT NULL, due_at INTEGER NOT NULL, reason TEXT NOT NULL,
        state TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (namespace, instance));`);
  }

  /** Whether the cleaner may act in `namespace`. */
  allows(namespace: string): boolean {
    const { allowNamespaces, denyNamespaces } = this.options.config;
    if (denyNamespaces.includes(namespace)) return false;
    return allowNamespaces.length === 0 || allowNamespaces.includes(namespace);
  }

  /** Records a restart; schedules a cleanup when the instance is in a crash loop. */
  onRestart(event: RestartEvent): PendingCleanup | undefined {
    if (!event.isPanic || !event.instance || !this.allows(event.namespace)) return undefined;
    const { db, config } = this.options;
    const now = this.#now();
    const at = event.finishedAt ? Math.min(Date.parse(event.finishedAt) || now, now) : now;
    prepared(
      db,
      "INSERT OR IGNORE INTO cleaner_restarts (namespace, instance, pod, container, restart_count, at) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(event.namespace, event.instance, event.pod, event.container, event.restartCount, at);
    const panics = this.#panicsInWindow(event.namespace, event.instance, now);
    if (panics <= config.maxRestartCount) return undefined;
    const existing = prepared(
      db,
      "SELECT state FROM cleaner_cleanups WHERE namespace = ? AND instance = ?",
    ).get(event.namespace, event.instance) as { state: string } | undefined;
    if (existing?.state === "pending") return undefined;
    const pending = {
      namespace: event.namespace,
      instance: event.instance,
      dueAt: now + config.cleanupDelay,
      reason: `crash loop: ${panics} panic restarts within ${
        Math.round(config.restartTimeWindow / 60_000)
      } min`,
    };
    prepared(
      db,
      "INSERT OR REPLACE INTO cleaner_cleanups (namespace, instance, due_at, reason, state, updated_at) VALUES (?, ?, ?, ?, 'pending', ?)",
    ).run(pending.namespace, pending.instance, pending.dueAt, pending.reason, now);
    this.options.log?.warn("crash loop: uninstall scheduled", {
      ...pending,
      dueAt: new Date(pending.dueAt).toISOString(),
    });
    return pending;
  }

  /** Cleanups scheduled and not yet done. */
  pending(): PendingCleanup[] {
    return (prepared(
      this.options.db,
      "SELECT namespace, instance, due_at AS dueAt, reason FROM cleaner_cleanups WHERE state = 'pending' ORDER BY due_at",
    ).all() as unknown as PendingCleanup[]).map((row) => ({ ...row }));
  }

  /** Acts on the cleanups that are due. Call it periodically. */
  async tick(): Promise<{ cleanup: PendingCleanup; outcome: CleanupOutcome; error?: string }[]> {
    const now = this.#now();
    const results: { cleanup: PendingCleanup; outcome: CleanupOutcome; error?: string }[] = [];
    for (const cleanup of this.pending().filter((c) => c.dueAt <= now)) {
      const { outcome, error } = await this.#settle(cleanup, now);
      // A failed uninstall stays pending and is tried again at the next tick.
      if (outcome !== "failed") this.#finish(cleanup, outcome, now);
      results.push({ cleanup, outcome, ...(error ? { error } : {}) });
    }
    return results;
  }

  async #settle(
    cleanup: PendingCleanup,
    now: number,
  ): Promise<{ outcome: CleanupOutcome; error?: string }> {
    const { config, log } = this.options;
    if (this.#panicsInWindow(cleanup.namespace, cleanup.instance, now) <= config.maxRestartCount) {
      log?.info("crash loop over: uninstall cancelled", { ...cleanup });
      return { outcome: "recovered" };
    }
    try {
      if (!(await this.options.exists(cleanup.namespace, cleanup.instance))) {
        return { outcome: "gone" };
      }
      if (config.dryRun) {
        log?.warn("dry run: would uninstall", { ...cleanup });
        return { outcome: "dry-run" };
      }
      await this.options.uninstall(cleanup.namespace, cleanup.instance, cleanup.reason);
      log?.warn("uninstalled an instance stuck in a crash loop", { ...cleanup });
      return { outcome: "uninstalled" };
    } catch (error) {
      const message = errorMessage(error);
      log?.error("uninstall failed, will retry", { ...cleanup, error: message });
      return { outcome: "failed", error: message };
    }
  }

  #finish(cleanup: PendingCleanup, outcome: CleanupOutcome, now: number): void {
    const { db } = this.options;
    prepared(
      db,
      "UPDATE cleaner_cleanups SET state = ?, updated_at = ? WHERE namespace = ? AND instance = ?",
    )
      .run(outcome, now, cleanup.namespace, cleanup.instance);
    // A reinstalled instance of the same name starts counting afresh.
    if (outcome === "uninstalled" || outcome === "gone") {
      prepared(db, "DELETE FROM cleaner_restarts WHERE namespace = ? AND instance = ?").run(
        cleanup.namespace,
        cleanup.instance,
      );
    }
  }

  #panicsInWindow(namespace: string, instance: string, now: number): number {
    const since = now - this.options.config.restartTimeWindow;
    const row = prepared(
      this.options.db,
      "SELECT COUNT(*) AS n FROM cleaner_restarts WHERE namespace = ? AND instance = ? AND at > ?",
    ).get(namespace, instance, since) as { n: number };
    return Number(row.n);
  }
}
