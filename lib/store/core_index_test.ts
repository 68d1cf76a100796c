import type { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../tests/support/assert.ts";
import { CoreIndex } from "./core_index.ts";
import { openState } from "./state.ts";

/** `db` with its `prepare` calls counted. */
function counting(db: DatabaseSync): { db: DatabaseSync; prepared: () => number } {
  let prepared = 0;
  const proxy = new Proxy(db, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (name === "prepare") {
        return (sql: string) => {
          prepared++;
          return target.prepare(sql);
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db: proxy, prepared: () => prepared };
}

Deno.test("CoreIndex prepares each statement once, however often a core is looked up", async () => {
  const state = await openState(":memory:");
  try {
    const { db, prepared } = counting(state);
    const index = new CoreIndex(db);
    const { record } = index.seen({
      path: "/var/crash/core.1",
      identity: "1:2",
      size: 10,
      crashTime: null,
    });
    const before = prepared();
    // What the collector does on every write event of a core being written.
    for (let i = 0; i < 10_000; i++) assertEquals(index.get("1:2")?.id, record.id);
    for (let i = 0; i < 100; i++) {
      index.update(record.id, { state: "analyzed", attempts: i });
      assertEquals(index.byId(record.id)?.attempts, i);
    }
    assert(prepared() - before <= 3, `${prepared() - before} statements prepared`);
    assertEquals(index.get("9:9"), undefined);
    assertEquals(index.counts().analyzed, 1);
  } finally {
    state.close();
  }
});

Deno.test("CoreIndex.list() answers right for any number of states, each its own statement text", async () => {
  const state = await openState(":memory:");
  try {
    const index = new CoreIndex(state);
    const { record } = index.seen({ path: "/c", identity: "a", size: 1, crashTime: null });
    // `list` makes one text per number of states; each, prepared once and run again, answers
    // as a new statement would (the bound on kept statements is tested in lib/sqlite_test.ts).
    for (let i = 0; i < 200; i++) {
      const states = (["seen", "analyzed", "stored", "failed"] as const).slice(0, 1 + (i % 4));
      assertEquals(index.list({ states }).map((r) => r.id), [record.id]);
    }
  } finally {
    state.close();
  }
});
