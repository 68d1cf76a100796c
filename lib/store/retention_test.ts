import fc from "fast-check";
import { assert, assertEquals } from "../../tests/support/assert.ts";
import type { StoredObject } from "./backend.ts";
import type { CoreRecord } from "./core_index.ts";
import {
  applyRetention,
  describePolicy,
  indexedObject,
  type PlannedDeletion,
  planRetention,
  type RetentionPolicy,
} from "./retention.ts";

const NOW = new Date("2026-11-22T12:00:00Z");
const DAY = 86_400_000;
const OFF: RetentionPolicy = { maxAge: 0, maxBytes: 0, maxPerGroup: 0, minFreeBytes: 0 };
const FP = "3f9a0c2d5e6b7a81";

interface Spec {
  bytes?: number;
  /** Days before NOW the core crashed. */
  age?: number;
  score?: number;
  fingerprint?: string;
  instance?: string;
  storedAt?: string;
}

function object(key: string, spec: Spec = {}): StoredObject {
  const metadata: Record<string, unknown> = {};
  if (spec.age !== undefined) {
    metadata.crashTime = new Date(NOW.getTime() - spec.age * DAY).toISOString();
  }
  if (spec.score !== undefined) metadata.score = spec.score;
  if (spec.fingerprint !== undefined) metadata.fingerprint = spec.fingerprint;
  if (spec.instance !== undefined) metadata.instance = spec.instance;
  return {
    key,
    uri: `file:///cores/${key}`,
    bytes: spec.bytes ?? 100,
    sha256: "0".repeat(64),
    compression: "gzip",
    storedAt: spec.storedAt ?? NOW.toISOString(),
    metadata,
  };
}

function deleted(objects: StoredObject[], policy: Partial<RetentionPolicy>, free?: number) {
  return planRetention(objects, { ...OFF, ...policy }, NOW, free).deletions.map((d) =>
    `${d.key}: ${d.reason}`
  );
}

Deno.test("planRetention() deletes cores older than maxAge by crash time, else stored time", () => {
  const objects = [
    object("prod/a", { age: 31 }),
    object("prod/b", { age: 30 }),
    object("prod/c", { age: 2 }),
    // Stored recently, crashed long ago: the crash time counts.
    object("prod/d", { age: 45, storedAt: NOW.toISOString() }),
    object("prod/e", { storedAt: new Date(NOW.getTime() - 40 * DAY).toISOString() }),
    object("prod/f", { storedAt: "not a time" }),
  ];
  assertEquals(deleted(objects, { maxAge: 30 * DAY }), [
    "prod/d: older than 30d",
    "prod/e: older than 30d",
    "prod/a: older than 30d",
  ]);
  assertEquals(deleted(objects, { maxAge: 90 * 60_000 + 500 }).length, 5);
  assertEquals(
    planRetention(objects, { ...OFF, maxAge: 90 * 60_000 + 500 }, NOW).deletions[0]!.reason,
    "older than 1h30m500ms",
  );
});

Deno.test("planRetention() keeps the first and the most recent cores of a crash group", () => {
  const group = [0, 1, 2, 3, 4, 5, 6].map((n) =>
    object(`prod/${n}`, { age: 10 - n, fingerprint: FP, instance: "prod" })
  );
  assertEquals(deleted(group, { maxPerGroup: 5 }), [
    "prod/1: group 3f9a… over 5",
    "prod/2: group 3f9a… over 5",
  ]);
  assertEquals(deleted(group, { maxPerGroup: 2 }).map((d) => d.split(":")[0]), [
    "prod/1",
    "prod/2",
    "prod/3",
    "prod/4",
    "prod/5",
  ]);
  assertEquals(deleted(group, { maxPerGroup: 1 }).length, 6);
  assertEquals(deleted(group, { maxPerGroup: 7 }), []);
  assertEquals(deleted(group, { maxPerGroup: 0 }), []);
});

Deno.test("planRetention() groups by instance and fingerprint, the key's folder standing in", () => {
  const objects = [
    // No metadata.instance: the folder names the instance.
    object("prod/a", { age: 3, fingerprint: FP }),
    object("prod/b", { age: 2, fingerprint: FP }),
    object("prod/c", { age: 1, fingerprint: FP, instance: "prod" }),
    // Same fingerprint in another instance: another group.
    object("staging/a", { age: 3, fingerprint: FP }),
    object("staging/b", { age: 2, fingerprint: FP }),
    // The metadata's instance wins over the folder.
    object("other/x", { age: 2.5, fingerprint: FP, instance: "staging" }),
    // No fingerprint: never grouped.
    object("prod/n1", { age: 3 }),
    object("prod/n2", { age: 2 }),
    object("prod/n3", { age: 1 }),
    object("prod/short", { age: 2, fingerprint: "ab" }),
    object("prod/short2", { age: 1, fingerprint: "ab" }),
    object("prod/short3", { age: 0, fingerprint: "ab" }),
  ];
  assertEquals(deleted(objects, { maxPerGroup: 2 }), [
    "prod/b: group 3f9a… over 2",
    "prod/short2: group ab over 2",
    "other/x: group 3f9a… over 2",
  ]);
  const plan = planRetention(objects, { ...OFF, maxPerGroup: 2 }, NOW);
  assertEquals(plan.deletions.map((d) => d.group), [`prod/${FP}`, "prod/ab", `staging/${FP}`]);
});

Deno.test("planRetention() deletes the lowest-scored, then oldest, cores over maxBytes", () => {
  const objects = [
    object("prod/high-old", { bytes: 400, score: 9, age: 9 }),
    object("prod/low-new", { bytes: 100, score: 3, age: 1 }),
    object("prod/low-old", { bytes: 100, score: 3, age: 5 }),
    object("prod/unscored", { bytes: 300, age: 2 }),
    object("prod/mid", { bytes: 200, score: 7, age: 3 }),
  ];
  // 1100 bytes in all: the unscored core (0) goes first, then the older score-3 core.
  assertEquals(deleted(objects, { maxBytes: 700 }), [
    "prod/unscored: over max bytes 700B",
    "prod/low-old: over max bytes 700B",
  ]);
  assertEquals(deleted(objects, { maxBytes: 1100 }), []);
  assertEquals(deleted(objects, { maxBytes: 1099 }).length, 1);
  assertEquals(deleted(objects, { maxBytes: 1 }).length, 5);
  const plan = planRetention(objects, { ...OFF, maxBytes: 700 }, NOW);
  assertEquals(plan.kept, { objects: 3, bytes: 700 });
  assertEquals(plan.deleted, { objects: 2, bytes: 400 });
  assertEquals(plan.deletions[0], {
    key: "prod/unscored",
    uri: "file:///cores/prod/unscored",
    bytes: 300,
    crashTime: new Date(NOW.getTime() - 2 * DAY).toISOString(),
    score: null,
    group: null,
    rule: "maxBytes",
    reason: "over max bytes 700B",
  });
  assertEquals(deleted(objects, { maxBytes: 50e9 }), []);
  const big = [object("a/x", { bytes: 60e9 }), object("a/y", { bytes: 16 * 2 ** 20 })];
  assertEquals(deleted(big, { maxBytes: 50e9 }), ["a/x: over max bytes 50GB"]);
  assertEquals(deleted(big, { maxBytes: 16 * 2 ** 20 }), ["a/x: over max bytes 16MiB"]);
});

Deno.test("planRetention() frees space below minFreeBytes in the maxBytes order", () => {
  const objects = [
    object("prod/a", { bytes: 500, score: 8, age: 3 }),
    object("prod/b", { bytes: 300, score: 2, age: 1 }),
    object("prod/c", { bytes: 300, score: 2, age: 2 }),
  ];
  // 1000 wanted, 600 free: 400 more needed, two cores of 300 give it.
  assertEquals(deleted(objects, { minFreeBytes: 1000 }, 600), [
    "prod/c: free space below 1KB",
    "prod/b: free space below 1KB",
  ]);
  assertEquals(deleted(objects, { minFreeBytes: 1000 }, 1000), []);
  assertEquals(deleted(objects, { minFreeBytes: 1000 }, 700), ["prod/c: free space below 1KB"]);
  // Unknown free space (S3): the policy does nothing.
  assertEquals(deleted(objects, { minFreeBytes: 1000 }), []);
  // Not enough to free whatever is deleted: everything goes.
  assertEquals(deleted(objects, { minFreeBytes: 1e9 }, 0).length, 3);
  // What the earlier policies delete counts as freed.
  assertEquals(deleted(objects, { maxBytes: 800, minFreeBytes: 1000 }, 700), [
    "prod/c: over max bytes 800B",
  ]);
  assertEquals(planRetention(objects, OFF, NOW, 5).freeBytes, 5);
  assertEquals(planRetention(objects, OFF, NOW).freeBytes, null);
});

Deno.test("planRetention() gives each object the first policy's reason, in policy order", () => {
  const objects = [
    object("prod/0", { age: 40, fingerprint: FP, bytes: 100, score: 9 }),
    object("prod/1", { age: 20, fingerprint: FP, bytes: 100, score: 9 }),
    object("prod/2", { age: 10, fingerprint: FP, bytes: 100, score: 9 }),
    object("prod/3", { age: 5, fingerprint: FP, bytes: 100, score: 9 }),
    object("prod/4", { age: 1, fingerprint: FP, bytes: 100, score: 9 }),
    object("prod/low", { age: 1, bytes: 100, score: 1 }),
    object("prod/mid", { age: 1, bytes: 100, score: 5 }),
  ];
  const plan = planRetention(
    objects,
    {
      maxAge: 30 * DAY,
      maxPerGroup: 2,
      maxBytes: 300,
      minFreeBytes: 1000,
    },
    NOW,
    800,
  );
  assertEquals(plan.deletions.map((d) => `${d.key} ${d.rule}`), [
    // Aged out first: the group's first core is now prod/1.
    "prod/0 maxAge",
    "prod/2 maxPerGroup",
    "prod/3 maxPerGroup",
    // prod/1, prod/4, low, mid = 400 bytes: one more to go.
    "prod/low maxBytes",
    // 800 free + 400 deleted reaches 1000 already: nothing for minFreeBytes.
  ]);
  assertEquals(plan.kept, { objects: 3, bytes: 300 });
  assertEquals(plan.deleted, { objects: 4, bytes: 400 });
  assertEquals(plan.policy, {
    maxAge: 30 * DAY,
    maxPerGroup: 2,
    maxBytes: 300,
    minFreeBytes: 1000,
  });
  assertEquals(plan.now, NOW.toISOString());
});

Deno.test("planRetention() breaks ties by key and ignores the order of its input", () => {
  const objects = ["prod/c", "prod/a", "staging/b", "prod/b"].map((key) =>
    object(key, { age: 1, score: 5, bytes: 100 })
  );
  const expected = ["prod/a", "prod/b", "prod/c"];
  const [c, a, b, d] = objects as [StoredObject, StoredObject, StoredObject, StoredObject];
  for (const order of [objects, [...objects].reverse(), [b, c, d, a]]) {
    const plan = planRetention(order, { ...OFF, maxBytes: 100 }, NOW);
    assertEquals(plan.deletions.map((d) => d.key), expected);
  }
  const group = ["prod/z", "prod/y", "prod/x"].map((key) =>
    object(key, { age: 1, fingerprint: FP })
  );
  // Same crash time: the key decides which is "first".
  assertEquals(deleted(group, { maxPerGroup: 2 }), ["prod/y: group 3f9a… over 2"]);
});

Deno.test("planRetention() with every policy at 0 deletes nothing", () => {
  const objects = [object("prod/a", { age: 999, bytes: 1e12 }), object("prod/b", { age: 1 })];
  const plan = planRetention(objects, OFF, NOW, 0);
  assertEquals(plan.deletions, []);
  assertEquals(plan.kept, { objects: 2, bytes: 1e12 + 100 });
  assertEquals(plan.deleted, { objects: 0, bytes: 0 });
  assertEquals(planRetention([], { ...OFF, maxBytes: 1, maxAge: 1 }, NOW, 0).deletions, []);
});

const arbitraryObjects = fc.array(
  fc.record({
    folder: fc.constantFrom("prod", "staging", "dev"),
    bytes: fc.integer({ min: 0, max: 10_000 }),
    age: fc.option(fc.integer({ min: 0, max: 60 * 24 }), { nil: undefined }),
    score: fc.option(fc.integer({ min: 0, max: 20 }).map((n) => n / 2), { nil: undefined }),
    fingerprint: fc.option(fc.constantFrom("aaaa1111", "bbbb2222"), { nil: undefined }),
  }),
  { maxLength: 60 },
).map((specs) =>
  specs.map((s, i) =>
    object(`${s.folder}/${String(i).padStart(3, "0")}`, {
      bytes: s.bytes,
      age: s.age === undefined ? undefined : s.age / 24,
      score: s.score,
      fingerprint: s.fingerprint,
    })
  )
);

const arbitraryPolicy = fc.record({
  maxAge: fc.constantFrom(0, DAY, 30 * DAY),
  maxBytes: fc.integer({ min: 0, max: 200_000 }),
  maxPerGroup: fc.integer({ min: 0, max: 6 }),
  minFreeBytes: fc.integer({ min: 0, max: 100_000 }),
});

Deno.test("planRetention() property: a reason for each deletion, totals add up, nothing extra", () => {
  fc.assert(
    fc.property(
      arbitraryObjects,
      arbitraryPolicy,
      fc.option(fc.integer({ min: 0, max: 100_000 }), { nil: undefined }),
      (objects, policy, free) => {
        const plan = planRetention(objects, policy, NOW, free);
        const keys = plan.deletions.map((d) => d.key);
        assertEquals(new Set(keys).size, keys.length, "each object at most once");
        for (const d of plan.deletions) assert(d.reason.length > 0 && d.rule, d.key);
        assertEquals(plan.kept.objects + plan.deleted.objects, objects.length);
        const all = objects.reduce((n, o) => n + o.bytes, 0);
        assertEquals(plan.kept.bytes + plan.deleted.bytes, all);
        assertEquals(plan.deleted.objects, plan.deletions.length);
        assertEquals(plan.deleted.bytes, plan.deletions.reduce((n, d) => n + d.bytes, 0));
        // The same plan whatever the listing order.
        const again = planRetention([...objects].reverse(), policy, NOW, free);
        assertEquals(again.deletions, plan.deletions);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("planRetention() property: maxBytes deletes only until the rest fits", () => {
  fc.assert(
    fc.property(
      arbitraryObjects,
      fc.integer({ min: 1, max: 200_000 }),
      (objects, maxBytes) => {
        const plan = planRetention(objects, { ...OFF, maxBytes }, NOW);
        const all = objects.reduce((n, o) => n + o.bytes, 0);
        assert(plan.kept.bytes <= maxBytes, "the rest fits");
        const last = plan.deletions.at(-1);
        if (last === undefined) assert(all <= maxBytes);
        else assert(plan.kept.bytes + last.bytes > maxBytes, "the last deletion was needed");
        // Lowest score first: nothing kept scores lower than something deleted.
        const keptScores = objects.filter((o) => !plan.deletions.some((d) => d.key === o.key))
          .map((o) => (o.metadata.score as number | undefined) ?? 0);
        for (const d of plan.deletions) {
          assert(keptScores.every((s) => s >= (d.score ?? 0)), `${d.key} scored lowest`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("indexedObject() turns a stored record of the core index into a plannable object", () => {
  const record = {
    state: "stored",
    storedKey: "prod/20261122T010203Z_q-0_main.core.zst",
    storedUri: "file:///cores/prod/20261122T010203Z_q-0_main.core.zst",
    storedBytes: 1234,
    sha256: "ab".repeat(32),
    crashTime: "2026-11-22T01:02:03.000Z",
    score: 8.5,
    fingerprint: FP,
    instance: "prod",
    updatedAt: "2026-11-22T01:03:00.000Z",
  } as CoreRecord;
  assertEquals(indexedObject(record), {
    key: record.storedKey!,
    uri: record.storedUri!,
    bytes: 1234,
    sha256: record.sha256!,
    compression: "zstd",
    storedAt: "2026-11-22T01:03:00.000Z",
    metadata: { crashTime: record.crashTime, score: 8.5, fingerprint: FP, instance: "prod" },
  });
  assertEquals(indexedObject({ ...record, state: "pruned" }), undefined);
  assertEquals(indexedObject({ ...record, storedKey: null }), undefined);
});

function planned(keys: string[]): { deletions: PlannedDeletion[] } {
  return {
    deletions: keys.map((key) => ({
      key,
      uri: `file:///cores/${key}`,
      bytes: 10,
      crashTime: null,
      score: null,
      group: null,
      rule: "maxAge" as const,
      reason: "older than 30d",
    })),
  };
}

Deno.test("applyRetention() deletes one by one, carries on past a failure, reports each", async () => {
  const calls: string[] = [];
  const recorded: string[] = [];
  const progress: string[] = [];
  const store = {
    delete(key: string) {
      calls.push(key);
      return key === "p/bad" ? Promise.reject(new Error("Permission denied")) : Promise.resolve();
    },
  };
  const results = await applyRetention(store, planned(["p/a", "p/bad", "p/c"]), {
    onDeleted: (d) => {
      recorded.push(d.key);
      if (d.key === "p/c") throw new Error("database is locked");
    },
    onProgress: (done, total) => progress.push(`${done}/${total}`),
  });
  assertEquals(calls, ["p/a", "p/bad", "p/c"]);
  assertEquals(recorded, ["p/a", "p/c"]);
  assertEquals(progress, ["1/3", "2/3", "3/3"]);
  assertEquals(results.map((r) => [r.key, r.outcome, r.error]), [
    ["p/a", "deleted", null],
    ["p/bad", "failed", "Permission denied"],
    ["p/c", "deleted", "deleted, but: database is locked"],
  ]);
});

Deno.test("applyRetention() stops on abort and after too many failures in a row", async () => {
  const abort = new AbortController();
  let calls = 0;
  const results = await applyRetention(
    {
      delete() {
        if (++calls === 2) abort.abort();
        return Promise.resolve();
      },
    },
    planned(["a/1", "a/2", "a/3", "a/4"]),
    { signal: abort.signal },
  );
  assertEquals(results.map((r) => [r.outcome, r.error]), [
    ["deleted", null],
    ["deleted", null],
    ["skipped", "cancelled"],
    ["skipped", "cancelled"],
  ]);
  const down = await applyRetention(
    { delete: () => Promise.reject(new Error("connection refused")) },
    planned(["a/1", "a/2", "a/3", "a/4"]),
    { maxConsecutiveFailures: 2 },
  );
  assertEquals(down.map((r) => r.outcome), ["failed", "failed", "skipped", "skipped"]);
  assertEquals(down[2]!.error, "not tried: 2 deletions in a row failed");
});

Deno.test("applyRetention() keeps at most `concurrency` deletions in flight, results in order", async () => {
  let inFlight = 0;
  let most = 0;
  const keys = Array.from({ length: 20 }, (_, i) => `a/${i}`);
  const results = await applyRetention(
    {
      async delete() {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
      },
    },
    planned(keys),
    { concurrency: 3 },
  );
  assertEquals(most, 3);
  assertEquals(results.map((r) => r.key), keys);
  assertEquals(await applyRetention({ delete: () => Promise.resolve() }, planned([])), []);
});

Deno.test("describePolicy() writes values as the configuration does, 0 as off", () => {
  assertEquals(
    describePolicy({ maxAge: 30 * DAY, maxBytes: 50e9, maxPerGroup: 5, minFreeBytes: 2 ** 30 }),
    "max age 30d, max bytes 50GB, max per group 5, min free 1GiB",
  );
  assertEquals(describePolicy(OFF), "max age off, max bytes off, max per group off, min free off");
});
