/**
 * `agent prune` against a local store of real cores: the plan-first contract, deletion of
 * exactly the plan, the core index, the JSON shape, and bad flags.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { S3RVER_KEY, S3Server } from "./support/s3.ts";
import { formatBytes, loadConfig } from "../lib/config/mod.ts";
import type { StoredObject } from "../lib/store/backend.ts";
import { CoreIndex } from "../lib/store/core_index.ts";
import { LocalStore } from "../lib/store/local.ts";
import { openStore } from "../lib/store/open.ts";
import { openState } from "../lib/store/state.ts";

const noGcc = skipNotice("gcc", haveGcc());
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FP = "3f9a0c2d5e6b7a81";

/** The cores the tests store, and how long ago each crashed. */
interface Stored {
  /** Crashed 1–5 h ago, one crash group of instance prod. */
  group: StoredObject[];
  /** Crashed 40 days ago. */
  old: StoredObject;
  /** The same fingerprint in another instance: its own group. */
  staging: StoredObject;
  /** No fingerprint, the lowest score. */
  unscored: StoredObject;
  all: StoredObject[];
}

async function populate(dir: string, options: { index?: boolean } = {}): Promise<Stored> {
  const cores = await sampleCores();
  const store = new LocalStore(`${dir}/cores`);
  const now = Date.now();
  const put = (
    core: string,
    instance: string,
    pod: string,
    ago: number,
    metadata: Record<string, unknown>,
  ) => {
    const time = new Date(now - ago);
    return store.put(core, {
      instance,
      pod,
      container: "main",
      time,
      compression: "gzip",
      metadata: { instance, crashTime: time.toISOString(), ...metadata },
    }).then(({ sourceBytes: _, ...object }) => object);
  };
  const group: StoredObject[] = [];
  const samples = [cores.segv, cores.abort, cores.assert, cores.fpe, cores.recursive];
  for (const [i, crash] of samples.entries()) {
    group.push(
      await put(crash.core, "prod", `q-${i + 1}`, (i + 1) * HOUR, {
        score: 8,
        fingerprint: FP,
      }),
    );
  }
  const old = await put(cores.segv.core, "prod", "q-old", 40 * DAY, {
    score: 9,
    fingerprint: "77aa00bb11cc22dd",
  });
  const staging = await put(cores.abort.core, "staging", "s-0", 2 * HOUR, {
    score: 6,
    fingerprint: FP,
  });
  const unscored = await put(cores.fpe.core, "staging", "s-1", 3 * HOUR, { score: 3 });
  const all = [...group, old, staging, unscored];
  if (options.index) {
    const db = await openState(`${dir}/state`);
    const index = new CoreIndex(db);
    for (const object of all) {
      const { record } = index.seen({
        path: `/host/var/crash/${object.key}`,
        identity: object.key,
        size: object.bytes,
        crashTime: new Date(object.metadata.crashTime as string),
      });
      index.update(record.id, {
        state: "stored",
        storedKey: object.key,
        storedUri: object.uri,
        storedBytes: object.bytes,
        instance: object.metadata.instance as string,
        fingerprint: (object.metadata.fingerprint as string | undefined) ?? null,
        score: object.metadata.score as number,
      });
    }
    db.close();
  }
  return { group, old, staging, unscored, all };
}

async function writeConfig(dir: string): Promise<string> {
  const file = `${dir}/agent.yaml`;
  await Deno.writeTextFile(
    file,
    [
      `stateDir: ${dir}/state`,
      "storage:",
      "  maxPerGroup: 3",
      "  local:",
      `    path: ${dir}/cores`,
      "  retention:",
      "    maxAge: 30d",
      "    maxBytes: 50GB",
      // The free space of this machine's disk must not decide the plan.
      "    minFreeBytes: 0",
      "",
    ].join("\n"),
  );
  return file;
}

/** Every file under `dir` with its size and modification time. */
async function snapshot(dir: string): Promise<string[]> {
  const entries: string[] = [];
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const full = `${path}/${entry.name}`;
      if (entry.isDirectory) await walk(full);
      else {
        const info = await Deno.stat(full);
        entries.push(`${full} ${info.size} ${info.mtime?.getTime()}`);
      }
    }
  };
  await walk(dir);
  return entries.sort();
}

async function keys(dir: string): Promise<string[]> {
  return (await Array.fromAsync(new LocalStore(`${dir}/cores`).list())).map((o) => o.key).sort();
}

/** `agent prune -o json`, as documented in docs/commands/prune.md. */
interface PruneJson {
  store: { kind: string; location: string };
  plan: {
    policy: { maxAge: number; maxBytes: number; maxPerGroup: number; minFreeBytes: number };
    now: string;
    freeBytes: number | null;
    deletions: {
      key: string;
      uri: string;
      bytes: number;
      crashTime: string | null;
      score: number | null;
      group: string | null;
      rule: string;
      reason: string;
    }[];
    kept: { objects: number; bytes: number };
    deleted: { objects: number; bytes: number };
  };
  applied: boolean;
  results: { key: string; outcome: string; error: string | null }[];
}

Deno.test({
  name: "prune prints the plan and changes nothing without --yes, or with --dry-run",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { group, old } = await populate(dir);
      const config = await writeConfig(dir);
      const before = await snapshot(dir);
      const run = await runAgent(["--config", config, "prune"]);
      assertEquals(run.code, 0, run.stderr);
      assertEquals(run.stderr, "");
      const lines = run.stdout.trim().split("\n");
      assertEquals(
        lines[0],
        `Plan to prune local store ${dir}/cores (max age 30d, max bytes 50GB, max per group 3, min free off):`,
      );
      assertEquals(lines[1]!.split(/ {3,}/), ["OBJECT", "SIZE", "REASON"]);
      // The group keeps its first core (5 h ago) and its two most recent (1 h, 2 h).
      assertEquals(lines.slice(2, -2).map((l) => [l.split(/ {3,}/)[0], l.split(/ {3,}/)[2]]), [
        [old.key, "older than 30d"],
        [group[3]!.key, "group 3f9a… over 3"],
        [group[2]!.key, "group 3f9a… over 3"],
      ]);
      assertStringIncludes(lines.at(-2)!, "3 cores (");
      assertStringIncludes(lines.at(-2)!, ") to delete, 5 cores (");
      assertEquals(lines.at(-1), "Nothing was deleted: run again with --yes to delete.");

      const dry = await runAgent(["--config", config, "prune", "--yes", "--dry-run"]);
      assertEquals(dry.code, 0, dry.stderr);
      assertEquals(dry.stdout.trim().split("\n").slice(0, -1), lines.slice(0, -1));
      assertEquals(dry.stdout.trim().split("\n").at(-1), "--dry-run: nothing was deleted.");

      const plan = json<PruneJson>(await runAgent(["--config", config, "prune", "-o", "json"]));
      assertEquals(plan.applied, false);
      assertEquals(plan.results, []);
      // Neither the store nor the state directory was touched.
      assertEquals(await snapshot(dir), before);
      assert(!(await Deno.stat(`${dir}/state`).then(() => true, () => false)));
    }),
});

Deno.test({
  name: "prune --yes deletes exactly the plan and marks the cores pruned in the index",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { all, old, group } = await populate(dir, { index: true });
      const config = await writeConfig(dir);
      const planned = json<PruneJson>(await runAgent(["--config", config, "prune", "-o", "json"]));
      assertEquals(Object.keys(planned), ["store", "plan", "applied", "results"]);
      assertEquals(planned.store, { kind: "local", location: `${dir}/cores` });
      assertEquals(planned.plan.policy, {
        maxAge: 30 * DAY,
        maxBytes: 50e9,
        maxPerGroup: 3,
        minFreeBytes: 0,
      });
      assertEquals(planned.plan.freeBytes, null);
      assertEquals(planned.plan.deletions[0], {
        key: old.key,
        uri: old.uri,
        bytes: old.bytes,
        crashTime: old.metadata.crashTime as string,
        score: 9,
        group: "prod/77aa00bb11cc22dd",
        rule: "maxAge",
        reason: "older than 30d",
      });
      const doomed = planned.plan.deletions.map((d) => d.key);
      assertEquals(doomed, [old.key, group[3]!.key, group[2]!.key]);
      const bytes = (objects: StoredObject[]) => objects.reduce((n, o) => n + o.bytes, 0);
      const kept = all.filter((o) => !doomed.includes(o.key));
      assertEquals(planned.plan.kept, { objects: kept.length, bytes: bytes(kept) });
      assertEquals(planned.plan.deleted, {
        objects: 3,
        bytes: bytes(all.filter((o) => doomed.includes(o.key))),
      });

      const run = await runAgent(["--config", config, "prune", "--yes", "-o", "json"]);
      assertEquals(run.code, 0, run.stderr);
      const applied = json<PruneJson>(run);
      assertEquals(applied.applied, true);
      assertEquals(applied.plan.deletions, planned.plan.deletions);
      assertEquals(
        applied.results.map((r) => [r.key, r.outcome, r.error]),
        doomed.map((key) => [key, "deleted", null]),
      );
      assertEquals(await keys(dir), kept.map((o) => o.key).sort());
      for (const key of doomed) {
        assert(!(await Deno.stat(`${dir}/cores/${key}`).then(() => true, () => false)), key);
      }

      const db = await openState(`${dir}/state`);
      const index = new CoreIndex(db);
      assertEquals(index.byKey(old.key)?.state, "pruned");
      assertEquals(index.byKey(old.key)?.reason, "older than 30d");
      assertEquals(index.byKey(group[2]!.key)?.reason, "group 3f9a… over 3");
      assertEquals(index.counts().pruned, 3);
      assertEquals(index.counts().stored, kept.length);
      db.close();

      const again = await runAgent(["--config", config, "prune", "--yes"]);
      assertEquals(again.code, 0, again.stderr);
      assertEquals(
        again.stdout.split("\n")[1],
        `Nothing to delete: 5 cores (${formatBytes(bytes(kept))}) kept.`,
      );
    }),
});

Deno.test({
  name: "prune flags override the configuration: max bytes by score, min free, 0 turns off",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { all, unscored } = await populate(dir);
      const config = await writeConfig(dir);
      const total = all.reduce((n, o) => n + o.bytes, 0);
      const off = ["--max-age", "0", "--max-per-group", "0"];
      const bytes = json<PruneJson>(
        await runAgent([
          "--config",
          config,
          "prune",
          ...off,
          "--max-bytes",
          String(total - 1),
          "-o",
          "json",
        ]),
      );
      // The lowest score goes first, and one core is enough.
      assertEquals(bytes.plan.deletions.map((d) => [d.key, d.rule]), [[unscored.key, "maxBytes"]]);
      assertEquals(bytes.plan.deletions[0]!.reason, `over max bytes ${total - 1}B`);

      const free = json<PruneJson>(
        await runAgent([
          "--config",
          config,
          "prune",
          ...off,
          "--max-bytes",
          "0",
          "--min-free",
          "1000TB",
          "-o",
          "json",
        ]),
      );
      assert(typeof free.plan.freeBytes === "number" && free.plan.freeBytes < 1e15);
      assertEquals(free.plan.deletions.length, all.length);
      assertEquals(free.plan.deletions[0]!.key, unscored.key);
      assertEquals(
        new Set(free.plan.deletions.map((d) => d.reason)),
        new Set(["free space below 1000TB"]),
      );

      const none = await runAgent([
        "--config",
        config,
        "prune",
        ...off,
        "--max-bytes",
        "0",
        "--dry-run",
      ]);
      assertEquals(none.code, 0, none.stderr);
      assertStringIncludes(
        none.stdout,
        "(max age off, max bytes off, max per group off, min free off)",
      );
      assertStringIncludes(none.stdout, `Nothing to delete: ${all.length} cores (`);
      assertEquals(await keys(dir), all.map((o) => o.key).sort());
    }),
});

Deno.test("prune rejects bad flag values with one line and exit code 2", async () => {
  for (
    const [flag, value, expected] of [
      ["--max-age", "soon", 'expected a duration like "30d"'],
      ["--max-bytes", "lots", 'expected a size like "50GB"'],
      ["--min-free", "-1GB", 'expected a size like "50GB"'],
      ["--max-per-group", "1.5", "storage.maxPerGroup (from --max-per-group): expected an integer"],
      ["-o", "xml", 'Invalid --output "xml": expected table or json'],
    ]
  ) {
    const run = await runAgent(["prune", flag!, value!]);
    assertEquals(run.code, 2, `${flag} ${value}: ${run.stderr}`);
    assertEquals(run.stderr.split("\n").filter(Boolean).length, 1, run.stderr);
    assertStringIncludes(run.stderr, expected!);
    if (flag === "-o") assertStringIncludes(run.stderr, '(see "agent prune --help")');
    else assertStringIncludes(run.stderr, `(from ${flag}): `);
    assertEquals(run.stdout, "");
  }
});

Deno.test("prune reports a store it cannot list with exit code 3", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/not-a-directory`, "");
    const run = await runAgent(["prune"], {
      env: {
        AGENT_STORAGE_LOCAL_PATH: `${dir}/not-a-directory`,
        AGENT_STATE_DIR: `${dir}/state`,
      },
    });
    assertEquals(run.code, 3, run.stderr);
    assertEquals(run.stderr.split("\n").filter(Boolean).length, 1, run.stderr);
    assertStringIncludes(run.stderr, `Cannot list the local store "${dir}/not-a-directory": `);
    // An empty or missing store is nothing to prune, not an error.
    const empty = await runAgent(["prune", "--yes"], {
      env: { AGENT_STORAGE_LOCAL_PATH: `${dir}/missing`, AGENT_STATE_DIR: `${dir}/state` },
    });
    assertEquals(empty.code, 0, empty.stderr);
    assertStringIncludes(empty.stdout, "Nothing to delete: 0 cores (0 B) kept.");
    assert(!(await Deno.stat(`${dir}/state`).then(() => true, () => false)));
  });
});

Deno.test({
  name: "prune applies the same policies to an S3 store",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const server = await S3Server.start("cores");
      try {
        const env: Record<string, string> = {
          AGENT_STORAGE_BACKEND: "s3",
          AGENT_STORAGE_S3_ENDPOINT: server.endpoint,
          AGENT_STORAGE_S3_BUCKET: "cores",
          AGENT_STORAGE_S3_ACCESS_KEY_ID: S3RVER_KEY,
          AGENT_STORAGE_S3_SECRET_ACCESS_KEY: S3RVER_KEY,
          AGENT_STORAGE_MAX_PER_GROUP: "2",
          AGENT_STATE_DIR: `${dir}/state`,
        };
        const config = await loadConfig({ env: (name) => env[name] });
        const store = openStore(config.storage, "test");
        const { segv } = await sampleCores();
        const now = Date.now();
        const keys: string[] = [];
        for (
          const [pod, ago] of [["q-old", 40 * DAY], ["q-1", 3 * HOUR], ["q-2", 2 * HOUR], [
            "q-3",
            HOUR,
          ]] as const
        ) {
          const time = new Date(now - ago);
          const object = await store.put(segv.core, {
            instance: "prod",
            pod,
            container: "main",
            time,
            compression: "zstd",
            metadata: {
              instance: "prod",
              fingerprint: FP,
              score: 8,
              crashTime: time.toISOString(),
            },
          });
          keys.push(object.key);
        }
        const run = await runAgent(["prune", "--yes", "-o", "json"], { env });
        assertEquals(run.code, 0, run.stderr);
        const out = json<PruneJson>(run);
        assertEquals(out.store.kind, "s3");
        // Free space means nothing on S3.
        assertEquals(out.plan.freeBytes, null);
        assertEquals(out.plan.deletions.map((d) => [d.key, d.reason]), [
          [keys[0], "older than 30d"],
          [keys[2], "group 3f9a… over 2"],
        ]);
        assertEquals(out.results.map((r) => r.outcome), ["deleted", "deleted"]);
        assertEquals(
          (await Array.fromAsync(store.list())).map((o) => o.key).sort(),
          [keys[1]!, keys[3]!].sort(),
        );
      } finally {
        await server.stop();
      }
    }),
});
