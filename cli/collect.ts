/**
 * `agent collect [CORE...]`: runs cores through the pipeline once (analyze, correlate,
 * score, store or skip, index, remove the original), for an SRE on a node or a cron job;
 * `agent collect --from-stdin %P %s %t %e %h`: the `core_pattern` pipe mode the kernel
 * invokes; `--install-core-pattern` and `--restore-core-pattern` switch the kernel to it
 * and back.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import type { CoreOutcome } from "../lib/collect/mod.ts";
import { AgentError, ExitCode, UsageError } from "../lib/errors.ts";
import type { CliContext } from "./_context.ts";
import { examples } from "./_help.ts";
import { print, renderJson, renderTable } from "./output.ts";
import { later } from "./_later.ts";

/** One line of `agent collect -o json`. Field names are part of the JSON contract. */
export interface CollectResult {
  path: string;
  outcome: CoreOutcome["outcome"];
  state: string;
  score: number | null;
  crashReason: string | null;
  pod: string | null;
  match: string | null;
  storedUri: string | null;
  reason: string | null;
  error: string | null;
}

function result(outcome: CoreOutcome): CollectResult {
  const r = outcome.record;
  return {
    path: r.path,
    outcome: outcome.outcome,
    state: r.state,
    score: r.score,
    crashReason: r.crashReason,
    pod: r.pod,
    match: r.match ? `${r.match.method}/${r.match.confidence}` : null,
    storedUri: r.storedUri,
    reason: r.reason,
    error: r.error,
  };
}

/** The complete cores in the configured directories (not already finished). */
async function coresIn(
  paths: readonly string[],
  patterns: readonly string[],
): Promise<{ found: string[]; unnamable: string[] }> {
  const { isUnnamable, looksLikeCore, unnamableMessage } = await later<
    typeof import("../lib/collect/mod.ts")
  >("../lib/collect/mod.ts");
  const found: string[] = [];
  const unnamable: string[] = [];
  for (const dir of paths) {
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.isFile || !looksLikeCore(entry.name, patterns)) continue;
        if (await isUnnamable(dir, entry.name)) unnamable.push(unnamableMessage(dir, entry.name));
        else found.push(`${dir}/${entry.name}`);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return { found: found.sort(), unnamable };
}

/** Builds the `collect` command. */
export function collectCommand(context: CliContext): CommandUnknownOpts {
  const command = new Command("collect")
    .summary("Collect cores now: analyze, score, store or skip, index (or pipe mode)")
    .description(
      "Run cores through the collection pipeline once: analyze, tie to a pod, score, keep the\n" +
        "valuable ones in the configured store (storage.backend) and index every one in the\n" +
        "state database. The original is removed after the stored copy verifies, when\n" +
        "storage.deleteOriginal is true. Without arguments, every core in\n" +
        "collector.paths. Cores already handled are left alone (safe to run again).\n\n" +
        "Pipe mode: with --from-stdin, the agent reads the core from stdin and takes the\n" +
        "kernel's %P %s %t %e %h as arguments, for a core_pattern that pipes cores to it; while\n" +
        "the kernel waits, the crashed process's executable and libraries are copied as its\n" +
        "debug bundle (collector.bundleMaxBytes). --install-core-pattern writes that pattern,\n" +
        "saving the previous one in the state directory; --restore-core-pattern puts the\n" +
        "previous one back.",
    )
    .argument("[cores...]", "core files, or in pipe mode: %P %s %t %e %h")
    .option("--from-stdin", "pipe mode: read the core from stdin (for the kernel)")
    .option(
      "--install-core-pattern <agent-path>",
      "make the kernel pipe cores to the agent at this absolute host path",
    )
    .option("--restore-core-pattern", "put back the core_pattern saved at installation")
    .addOption(
      // lib/collect's CORE_PATTERN_FILE, which the command's modules load only when it runs.
      new Option("--core-pattern-file <file>", "the kernel's pattern file").default(
        "/proc/sys/kernel/core_pattern",
      ).hideHelp(),
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["table", "json"] as const)
        .default("table"),
    )
    .action(async (args, options) => {
      const config = await context.config();
      const log = context.log();
      const {
        installCorePattern,
        isFinished,
        openCollection,
        parsePipeArguments,
        restoreCorePattern,
        spoolCore,
      } = await later<typeof import("../lib/collect/mod.ts")>("../lib/collect/mod.ts");
      const modes = [options.fromStdin, options.installCorePattern, options.restoreCorePattern]
        .filter(Boolean).length;
      if (modes > 1) {
        throw new UsageError(
          "Choose one of --from-stdin, --install-core-pattern and --restore-core-pattern",
        );
      }
      if (options.installCorePattern !== undefined) {
        const { pattern, previous } = await installCorePattern(
          config,
          options.installCorePattern,
          options.corePatternFile,
        );
        await print(
          `core_pattern is now: ${pattern}\nprevious (saved in ${config.stateDir}): ${previous}`,
        );
        return;
      }
      if (options.restoreCorePattern) {
        const previous = await restoreCorePattern(config, options.corePatternFile);
        await print(`core_pattern restored: ${previous}`);
        return;
      }
      if (options.fromStdin) {
        const hints = parsePipeArguments(args);
        // Read into the spool's own buffers: `Deno.stdin.readable` allocates per read.
        const spooled = await spoolCore(config, Deno.stdin, hints);
        const { db, pipeline } = await openCollection(
          { ...config, storage: { ...config.storage, deleteOriginal: true } },
          log,
        );
        try {
          const outcome = await pipeline.process(spooled.path, spooled.hints);
          if (outcome?.outcome === "failed") context.exitCode = ExitCode.Unavailable;
        } finally {
          db.close();
        }
        return;
      }
      const { db, index, pipeline } = await openCollection(config, log);
      try {
        const now = new Date();
        let cores = args;
        if (!args.length) {
          const listed = await coresIn(config.collector.paths, config.collector.fileNamePatterns);
          for (const problem of listed.unnamable) {
            log.error(problem);
            context.fail(ExitCode.Usage);
          }
          cores = [];
          for (const path of listed.found) {
            // Another collector may have finished and removed it since the listing.
            const info = await Deno.lstat(path).catch(() => undefined);
            if (info && !isFinished(index, config, info, now)) cores.push(path);
          }
        }
        const results: CollectResult[] = [];
        for (const path of cores) {
          let outcome: CoreOutcome | undefined;
          try {
            outcome = await pipeline.process(path);
          } catch (error) {
            if (!(error instanceof AgentError)) throw error;
            log.error(error.message);
            context.fail(error.exitCode);
            continue;
          }
          if (!outcome) {
            if (await Deno.lstat(path).then(() => true, () => false)) {
              log.info(`"${path}" is being collected by another process`);
            } else if (args.length) {
              log.error(`Cannot collect "${path}": no such file`);
              context.exitCode = ExitCode.Usage;
            }
            continue;
          }
          results.push(result(outcome));
          if (outcome.outcome === "failed") {
            context.fail(outcome.record.retryAt ? ExitCode.Unavailable : ExitCode.Usage);
          }
        }
        if (options.output !== "json" && cores.length === 0) {
          await print(`No cores to collect in ${config.collector.paths.join(", ")}`);
          return;
        }
        await print(
          options.output === "json" ? renderJson(results) : renderTable(
            ["CORE", "OUTCOME", "SCORE", "POD", "STORED AS / REASON"],
            results.map((r) => [
              r.path,
              r.outcome,
              r.score === null ? "-" : r.score.toFixed(1),
              r.pod ?? "-",
              r.storedUri ?? r.reason ?? r.error ?? "",
            ]),
          ),
        );
      } finally {
        db.close();
      }
    });
  return examples(
    command,
    [
      "Collect systemd-coredump's Milvus cores now",
      "agent collect /var/lib/systemd/coredump/core.milvus.1000.*.zst",
    ],
    ["Collect every core in collector.paths, as JSON", "agent collect -o json"],
    [
      "Make the kernel pipe every core to the agent (writes core_pattern)",
      "agent collect --install-core-pattern /usr/local/bin/agent",
    ],
  );
}
