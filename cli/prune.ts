/**
 * `agent prune [--dry-run] [--max-age D] [--max-bytes B] [--max-per-group N] [--min-free B]
 * [--yes] [-o table|json]`.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { formatBytes } from "../lib/units.ts";
import { AgentError, ExitCode, UnavailableError } from "../lib/errors.ts";
import { writeAllSync } from "../lib/io.ts";
import type { Logger } from "../lib/log.ts";
import type { Store, StoredObject } from "../lib/store/mod.ts";
import type { DeletionResult, RetentionPlan, RetentionTotals } from "../lib/store/mod.ts";
import { type CliContext, flag } from "./_context.ts";
import { examples } from "./_help.ts";
import { print, renderJson, renderTable } from "./output.ts";
import { later } from "./_later.ts";

/** Deletions from which a progress bar is drawn (on a terminal). */
const PROGRESS_FROM = 20;

/** Exit code after Ctrl-C stopped the deletions, as a shell reports SIGINT. */

/** Builds the `prune` command. */
export function pruneCommand(context: CliContext): CommandUnknownOpts {
  const command = new Command("prune")
    .summary("Delete stored cores by retention policy; prints the plan first")
    .description(
      "Delete stored cores by the retention policy, on any storage backend. In this\n" +
        "order, each on what the previous left: cores that crashed longer ago than\n" +
        "--max-age; cores of a crash group (instance and fingerprint) beyond\n" +
        "--max-per-group, keeping the group's first core and its most recent ones;\n" +
        "while the rest take more than --max-bytes, the lowest-scored (then oldest)\n" +
        "cores; the same while the store's filesystem has less than --min-free free.\n" +
        "A value of 0 turns that policy off. Defaults come from storage.retention and\n" +
        "storage.maxPerGroup. The plan is printed and nothing is deleted unless --yes\n" +
        "is given; --dry-run never deletes. Deleted cores are marked pruned in the\n" +
        "core index.",
    )
    .option("--max-age <duration>", "delete cores older than this (storage.retention.maxAge)")
    .option(
      "--max-bytes <size>",
      "keep the stored cores under this size (storage.retention.maxBytes)",
    )
    .option("--max-per-group <n>", "cores kept per crash group (storage.maxPerGroup)")
    .option(
      "--min-free <size>",
      "free space to leave on the store's filesystem (storage.retention.minFreeBytes)",
    )
    .option("--yes", "delete the planned cores")
    .option("--dry-run", "print the plan only, even with --yes")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"] as const)
        .default("table"),
    )
    .action(async (options) => {
      const config = await context.config({
        "storage.retention.maxAge": flag("--max-age", options.maxAge),
        "storage.retention.maxBytes": flag("--max-bytes", options.maxBytes),
        "storage.maxPerGroup": flag("--max-per-group", options.maxPerGroup),
        "storage.retention.minFreeBytes": flag("--min-free", options.minFree),
      });
      // Loaded here: the store is not needed to print help or to run other commands.
      const { describePolicy, openStore, planRetention, retentionPolicy } = await later<
        typeof import("../lib/store/mod.ts")
      >("../lib/store/mod.ts");
      const policy = retentionPolicy(config.storage);
      const store = openStore(config.storage, config.nodeName || "agent");
      const objects = await listStore(store, context.log());
      const freeBytes = policy.minFreeBytes > 0
        ? await store.freeBytes().catch(() => undefined)
        : undefined;
      const plan = planRetention(objects, policy, new Date(), freeBytes);
      const where = { kind: store.kind, location: store.location };
      const described = describePolicy(plan.policy);
      const apply = options.yes === true && options.dryRun !== true;
      if (!apply) {
        if (options.output === "json") {
          return await print(renderJson({ store: where, plan, applied: false, results: [] }));
        }
        const hint = plan.deletions.length === 0 ? [] : [
          options.dryRun
            ? "--dry-run: nothing was deleted."
            : "Nothing was deleted: run again with --yes to delete.",
        ];
        return await print([renderPlan(store, plan, described), ...hint].join("\n"));
      }
      const results = plan.deletions.length === 0
        ? []
        : await deleteAndRecord(store, plan, config.stateDir, context);
      if (results.some((r) => r.error === "cancelled")) context.exitCode = ExitCode.Interrupted;
      else if (results.some((r) => r.error !== null)) context.exitCode = ExitCode.Unavailable;
      if (options.output === "json") {
        return await print(renderJson({ store: where, plan, applied: true, results }));
      }
      await print(renderResults(store, plan, described, results));
    });
  return examples(
    command,
    ["Show what the retention policy would delete", "agent prune"],
    ["Delete the cores that crashed more than 7 days ago", "agent prune --max-age 7d --yes"],
    [
      "Plan for at most 20 GB and 3 cores per crash group, as JSON",
      "agent prune --max-bytes 20GB --max-per-group 3 --dry-run -o json",
    ],
  );
}

async function listStore(store: Store, log: Logger): Promise<StoredObject[]> {
  try {
    return await Array.fromAsync(
      store.list((where, reason) =>
        log.warn("Skipping an unreadable store record", { where, reason })
      ),
    );
  } catch (error) {
    if (error instanceof AgentError) throw error;
    throw new UnavailableError(
      `Cannot list the ${store.kind} store "${store.location}": ${
        error instanceof Error ? error.message : error
      }`,
      { cause: error },
    );
  }
}

/**
 * Deletes the plan's cores, marking each pruned in the core index as soon as it is gone, so
 * that an interrupted run leaves the index true. Ctrl-C stops before the next deletion.
 */
async function deleteAndRecord(
  store: Store,
  plan: RetentionPlan,
  stateDir: string,
  context: CliContext,
): Promise<DeletionResult[]> {
  const { applyRetention, CoreIndex, openState } = await later<
    typeof import("../lib/store/mod.ts")
  >("../lib/store/mod.ts");
  // Opened before the first deletion: a core deleted but still "stored" in the index would be
  // counted against its crash group and listed on /cores.
  const db = await openState(stateDir);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  const progress = progressBar(plan.deletions.length);
  try {
    const index = new CoreIndex(db);
    const results = await applyRetention(store, plan, {
      onDeleted: (d) => index.markPruned(d.key, d.reason),
      onProgress: progress?.update,
      signal: stop.signal,
    });
    for (const r of results.filter((r) => r.outcome === "failed")) {
      context.log().error(`Cannot delete "${r.key}": ${r.error}`);
    }
    return results;
  } finally {
    progress?.end();
    Deno.removeSignalListener("SIGINT", onSignal);
    db.close();
  }
}

/** A one-line progress bar on stderr, when it is a terminal and there is enough to show. */
function progressBar(
  total: number,
): { update: (done: number, total: number) => void; end: () => void } | undefined {
  if (total < PROGRESS_FROM || !Deno.stderr.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  const write = (text: string) => writeAllSync(Deno.stderr, encoder.encode(text));
  let drawn = 0;
  return {
    update(done) {
      const now = performance.now();
      if (done < total && now - drawn < 100) return;
      drawn = now;
      const width = 30;
      const filled = Math.round((done / total) * width);
      write(
        `\r\x1b[2KDeleting ${done}/${total} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${
          Math.floor((done / total) * 100)
        }%`,
      );
    },
    end: () => write("\r\x1b[2K"),
  };
}

function totals(t: RetentionTotals): string {
  return `${t.objects} ${t.objects === 1 ? "core" : "cores"} (${formatBytes(t.bytes)})`;
}

/** `policy`: the plan's policy, described. */
function heading(store: Store, plan: RetentionPlan, policy: string, describe: string): string {
  const free = plan.freeBytes === null ? "" : `, ${formatBytes(plan.freeBytes)} free`;
  return `${describe} ${store.kind} store ${store.location} (${policy}${free}):`;
}

function renderPlan(store: Store, plan: RetentionPlan, policy: string): string {
  const lines = [heading(store, plan, policy, "Plan to prune")];
  if (plan.deletions.length === 0) {
    lines.push(`Nothing to delete: ${totals(plan.kept)} kept.`);
    return lines.join("\n");
  }
  lines.push(
    renderTable(
      ["OBJECT", "SIZE", "REASON"],
      plan.deletions.map((d) => [d.key, formatBytes(d.bytes), d.reason]),
    ),
    `${totals(plan.deleted)} to delete, ${totals(plan.kept)} kept.`,
  );
  return lines.join("\n");
}

function renderResults(
  store: Store,
  plan: RetentionPlan,
  policy: string,
  results: DeletionResult[],
): string {
  const lines = [heading(store, plan, policy, "Pruned")];
  if (results.length === 0) {
    lines.push(`Nothing to delete: ${totals(plan.kept)} kept.`);
    return lines.join("\n");
  }
  lines.push(renderTable(
    ["RESULT", "OBJECT", "SIZE", "REASON"],
    results.map((r) => [
      r.outcome,
      r.key,
      formatBytes(r.bytes),
      r.error === null ? r.reason : `${r.reason}: ${r.error}`,
    ]),
  ));
  const done = results.filter((r) => r.outcome === "deleted");
  const notDone = results.length - done.length;
  const deleted = { objects: done.length, bytes: done.reduce((n, r) => n + r.bytes, 0) };
  const kept = {
    objects: plan.kept.objects + notDone,
    bytes: plan.kept.bytes + plan.deleted.bytes - deleted.bytes,
  };
  lines.push(
    `${totals(deleted)} deleted, ${notDone} not deleted, ${totals(kept)} kept.`,
  );
  return lines.join("\n");
}
