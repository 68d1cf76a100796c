/**
 * Prune planning benchmark: 1,000 real cores in a local store (and the same 1,000 in the core
 * index), timing what `agent prune` does before it prints: listing the store's metadata,
 * asking `df` for the free space, and `planRetention()`; the same plan made from the index
 * instead of a listing; planning alone (also for 10,000 and 100,000 objects in memory); and
 * the whole `agent prune -o json` process.
 *
 * The cores are one `segv` core (gcc) stored 1,000 times, gzip, through `LocalStore.put()`,
 * with metadata spread like a busy node's: 10 instances, 50 crash fingerprints, scores 4–10,
 * crash times over 60 days (a seeded generator, so every run plans the same deletions).
 *
 * Run: deno task bench:prune [CORES]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { agentArgs } from "../tests/support/cli.ts";
import { crash, haveGcc } from "../tests/support/cores.ts";
import type { StoredObject } from "../lib/store/backend.ts";
import { CoreIndex } from "../lib/store/core_index.ts";
import { LocalStore } from "../lib/store/local.ts";
import { indexedObject, planRetention, type RetentionPolicy } from "../lib/store/retention.ts";
import { openState } from "../lib/store/state.ts";
import { mapLimit } from "../lib/pool.ts";

const COUNT = Number(Deno.args[0] ?? 1000);
const ROUNDS = 21;
const DAY = 86_400_000;
const NOW = new Date("2026-11-22T12:00:00Z");
/**
 * The defaults, but `maxBytes` is set to a fifth of what is stored (below) so that it has work
 * too; `minFreeBytes` stays 1GB, which costs the `df` and deletes nothing on a disk with room.
 */
const POLICY: RetentionPolicy = {
  maxAge: 30 * DAY,
  maxBytes: 0,
  maxPerGroup: 5,
  minFreeBytes: 1e9,
};

if (!haveGcc()) {
  console.error("bench/prune.ts needs gcc to make a core");
  Deno.exit(1);
}

/** mulberry32: small, seeded, good enough to spread metadata. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Meta {
  instance: string;
  pod: string;
  time: Date;
  score: number;
  fingerprint: string;
}

function metadataFor(count: number): Meta[] {
  const next = random(42);
  return Array.from({ length: count }, (_, i) => {
    const instance = `milvus-${Math.floor(next() * 10)}`;
    return {
      instance,
      pod: `${instance}-querynode-${i}`,
      time: new Date(NOW.getTime() - Math.floor(next() * 60 * DAY)),
      score: Math.round((4 + next() * 6) * 2) / 2,
      fingerprint: Math.floor(next() * 50).toString(16).padStart(16, "0"),
    };
  });
}

/** Objects in memory only, for planning at sizes no disk here should hold. */
function syntheticObjects(count: number): StoredObject[] {
  return metadataFor(count).map((m, i) => ({
    key: `${m.instance}/${String(i).padStart(7, "0")}.core.gz`,
    uri: `file:///var/lib/agent/cores/${m.instance}/${i}.core.gz`,
    bytes: 20_000 + (i % 1000) * 100,
    sha256: "0".repeat(64),
    compression: "gzip",
    storedAt: m.time.toISOString(),
    metadata: {
      instance: m.instance,
      fingerprint: m.fingerprint,
      score: m.score,
      crashTime: m.time.toISOString(),
    },
  }));
}

async function measure(
  rounds: number,
  fn: () => Promise<unknown> | unknown,
): Promise<{ median: number; min: number; max: number }> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await fn();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, min: times[0]!, max: times.at(-1)! };
}

function ms(value: number): string {
  return value >= 100
    ? `${value.toFixed(0)} ms`
    : value >= 1
    ? `${value.toFixed(1)} ms`
    : `${(value * 1000).toFixed(0)} µs`;
}

const dir = await Deno.makeTempDir({ prefix: "agent-prune-bench-" });
try {
  const { core } = await crash("segv", dir);
  const store = new LocalStore(`${dir}/cores`);
  const filling = performance.now();
  const metas = metadataFor(COUNT);
  const stored = await mapLimit(metas, 4, async (m, i) => {
    const { sourceBytes: _, ...object } = await store.put(core, {
      instance: m.instance,
      pod: m.pod,
      container: "main",
      time: m.time,
      compression: "gzip",
      name: `${String(i).padStart(5, "0")}.core.gz`,
      metadata: {
        instance: m.instance,
        fingerprint: m.fingerprint,
        score: m.score,
        crashTime: m.time.toISOString(),
      },
    });
    return object;
  });
  const fillSeconds = (performance.now() - filling) / 1000;
  POLICY.maxBytes = Math.floor(stored.reduce((n, o) => n + o.bytes, 0) / 5);

  const db = await openState(`${dir}/state`);
  const index = new CoreIndex(db);
  db.exec("BEGIN");
  for (const object of stored) {
    const { record } = index.seen({
      path: `/host/var/crash/${object.key}`,
      identity: object.key,
      size: 315_392,
      crashTime: new Date(object.metadata.crashTime as string),
    });
    index.update(record.id, {
      state: "stored",
      storedKey: object.key,
      storedUri: object.uri,
      storedBytes: object.bytes,
      sha256: object.sha256,
      instance: object.metadata.instance as string,
      fingerprint: object.metadata.fingerprint as string,
      score: object.metadata.score as number,
    });
  }
  db.exec("COMMIT");

  const free = await store.freeBytes();
  const plan = planRetention(stored, POLICY, NOW, free);
  const byRule = Object.entries(
    Object.groupBy(plan.deletions, (d) => d.rule),
  ).map(([rule, ds]) => `${ds!.length} ${rule}`).join(", ");

  const rows: [string, { median: number; min: number; max: number }][] = [];
  rows.push([
    `list the local store (${COUNT} metadata files)`,
    await measure(ROUNDS, () => Array.fromAsync(store.list())),
  ]);
  rows.push(["free space (`df`)", await measure(ROUNDS, () => store.freeBytes())]);
  rows.push([
    `plan alone, ${COUNT} objects in memory`,
    await measure(ROUNDS, () => planRetention(stored, POLICY, NOW, free)),
  ]);
  rows.push([
    "**local store: list + df + plan** (what `agent prune` does before printing)",
    await measure(ROUNDS, async () => {
      const objects = await Array.fromAsync(store.list());
      return planRetention(objects, POLICY, NOW, await store.freeBytes());
    }),
  ]);
  rows.push([
    `index: read ${COUNT} stored records + plan`,
    await measure(ROUNDS, () => {
      const objects = index.list({ states: ["stored"] }).flatMap((r) => indexedObject(r) ?? []);
      return planRetention(objects, POLICY, NOW, free);
    }),
  ]);
  for (const size of [10_000, 100_000]) {
    const objects = syntheticObjects(size);
    rows.push([
      `plan alone, ${size.toLocaleString("en")} objects in memory`,
      await measure(size > 10_000 ? 5 : ROUNDS, () => planRetention(objects, POLICY, NOW, free)),
    ]);
  }
  db.close();

  const cli = await measure(5, async () => {
    const run = await new Deno.Command(Deno.execPath(), {
      args: agentArgs(["prune", "-o", "json"]),
      env: {
        AGENT_STORAGE_LOCAL_PATH: `${dir}/cores`,
        AGENT_STATE_DIR: `${dir}/state`,
        AGENT_STORAGE_MAX_PER_GROUP: String(POLICY.maxPerGroup),
        AGENT_STORAGE_RETENTION_MAX_BYTES: String(POLICY.maxBytes),
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!run.success) throw new Error(new TextDecoder().decode(run.stderr));
  });
  rows.push([`whole process: \`agent prune -o json\` on the ${COUNT} cores`, cli]);

  console.log(
    `${COUNT} cores stored in ${
      fillSeconds.toFixed(1)
    } s; the plan deletes ${plan.deleted.objects} ` +
      `(${byRule}) and keeps ${plan.kept.objects}; median of ${ROUNDS} after 1 warm-up ` +
      "(5 for 100,000 objects and the whole process)\n",
  );
  console.log("| measurement | median | min … max |");
  console.log("| --- | ---: | --- |");
  for (const [name, t] of rows) {
    console.log(`| ${name} | ${ms(t.median)} | ${ms(t.min)} … ${ms(t.max)} |`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
