import { assertEquals } from "../../tests/support/assert.ts";
import { configSchema, DEFAULTS } from "../config/mod.ts";
import { openState } from "../store/state.ts";
import { Cleaner, type CleanerOptions } from "./cleaner.ts";
import type { RestartEvent } from "./restarts.ts";

const MINUTE = 60_000;
const START = Date.parse("2026-11-22T12:00:00Z");

function restart(count: number, at: number, overrides: Partial<RestartEvent> = {}): RestartEvent {
  return {
    namespace: "milvus",
    pod: "prod-querynode-0",
    container: "main",
    node: "node-1",
    instance: "prod",
    restartCount: count,
    exitCode: 139,
    signal: 11,
    reason: "Error",
    message: null,
    finishedAt: new Date(at).toISOString(),
    isPanic: true,
    evidence: "killed by signal 11",
    ...overrides,
  };
}

async function setup(
  overrides: Partial<ReturnType<typeof configSchema.parse>["cleaner"]> = {},
  dir = ":memory:",
) {
  const clock = { now: START };
  const uninstalled: string[] = [];
  const present = new Set(["milvus/prod", "milvus/staging"]);
  const config = { ...configSchema.parse(DEFAULTS).cleaner, enabled: true, ...overrides };
  const db = await openState(dir);
  const options: CleanerOptions = {
    config,
    db,
    now: () => clock.now,
    uninstall: (namespace, name, reason) => {
      uninstalled.push(`${namespace}/${name}: ${reason}`);
      present.delete(`${namespace}/${name}`);
      return Promise.resolve();
    },
    exists: (namespace, name) => Promise.resolve(present.has(`${namespace}/${name}`)),
  };
  return { clock, uninstalled, present, db, cleaner: new Cleaner(options), options };
}

Deno.test("Cleaner schedules an uninstall after more than maxRestartCount panics in the window", async () => {
  const { clock, cleaner, uninstalled } = await setup();
  for (let i = 1; i <= 5; i++) {
    clock.now = START + i * MINUTE;
    assertEquals(cleaner.onRestart(restart(i, clock.now)), undefined);
  }
  clock.now = START + 6 * MINUTE;
  const pending = cleaner.onRestart(restart(6, clock.now));
  assertEquals(pending, {
    namespace: "milvus",
    instance: "prod",
    dueAt: START + 11 * MINUTE,
    reason: "crash loop: 6 panic restarts within 60 min",
  });
  assertEquals(cleaner.onRestart(restart(7, clock.now)), undefined, "already pending");
  clock.now = START + 10 * MINUTE;
  assertEquals(await cleaner.tick(), []);
  clock.now = START + 11 * MINUTE;
  assertEquals((await cleaner.tick()).map((r) => r.outcome), ["uninstalled"]);
  assertEquals(uninstalled, ["milvus/prod: crash loop: 6 panic restarts within 60 min"]);
  assertEquals(await cleaner.tick(), []);
});

Deno.test("Cleaner ignores non-panics, old panics, the same restart twice and denied namespaces", async () => {
  const { clock, cleaner } = await setup({ denyNamespaces: ["kube-system"] });
  clock.now = START + 120 * MINUTE;
  for (let i = 1; i <= 6; i++) cleaner.onRestart(restart(i, START + i * MINUTE));
  for (let i = 7; i <= 12; i++) cleaner.onRestart(restart(i, clock.now, { isPanic: false }));
  for (let i = 0; i < 6; i++) cleaner.onRestart(restart(20, clock.now));
  for (let i = 1; i <= 6; i++) {
    cleaner.onRestart(restart(i, clock.now, { namespace: "kube-system" }));
  }
  assertEquals(cleaner.pending(), []);
});

Deno.test("Cleaner cancels when the crash loop ends or the instance disappears", async () => {
  const { clock, cleaner, uninstalled, present } = await setup({
    maxRestartCount: 1,
    restartTimeWindow: 10 * MINUTE,
  });
  cleaner.onRestart(restart(1, clock.now));
  cleaner.onRestart(restart(2, clock.now));
  cleaner.onRestart(restart(1, clock.now, { instance: "staging" }));
  cleaner.onRestart(restart(2, clock.now, { instance: "staging" }));
  present.delete("milvus/staging");
  clock.now += 11 * MINUTE;
  const results = await cleaner.tick();
  assertEquals(results.map((r) => [r.cleanup.instance, r.outcome]), [["prod", "recovered"], [
    "staging",
    "recovered",
  ]]);
  clock.now = START + 20 * MINUTE;
  cleaner.onRestart(restart(3, clock.now, { instance: "staging" }));
  cleaner.onRestart(restart(4, clock.now, { instance: "staging" }));
  clock.now += 5 * MINUTE;
  assertEquals((await cleaner.tick()).map((r) => r.outcome), ["gone"]);
  assertEquals(uninstalled, []);
});

Deno.test("Cleaner in dry-run mode uninstalls nothing", async () => {
  const { clock, cleaner, uninstalled } = await setup({ dryRun: true, maxRestartCount: 1 });
  cleaner.onRestart(restart(1, clock.now));
  cleaner.onRestart(restart(2, clock.now));
  clock.now += 5 * MINUTE;
  assertEquals((await cleaner.tick()).map((r) => r.outcome), ["dry-run"]);
  assertEquals(uninstalled, []);
});

Deno.test("Cleaner retries a failed uninstall at the next tick", async () => {
  const { clock, cleaner, options, uninstalled } = await setup({ maxRestartCount: 1 });
  let fail = true;
  const real = options.uninstall;
  options.uninstall = (ns, name, reason) =>
    fail ? Promise.reject(new Error("API unavailable")) : real(ns, name, reason);
  cleaner.onRestart(restart(1, clock.now));
  cleaner.onRestart(restart(2, clock.now));
  clock.now += 5 * MINUTE;
  assertEquals((await cleaner.tick()).map((r) => [r.outcome, r.error]), [[
    "failed",
    "API unavailable",
  ]]);
  fail = false;
  assertEquals((await cleaner.tick()).map((r) => r.outcome), ["uninstalled"]);
  assertEquals(uninstalled.length, 1);
});

Deno.test("Cleaner state survives a restart of the agent: no forgotten loop, no double uninstall", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await setup({ maxRestartCount: 2 }, dir);
    first.cleaner.onRestart(restart(1, first.clock.now));
    first.cleaner.onRestart(restart(2, first.clock.now));
    first.db.close();
    const second = await setup({ maxRestartCount: 2 }, dir);
    second.cleaner.onRestart(restart(2, second.clock.now));
    assertEquals(second.cleaner.pending(), [], "the restart seen before counts once");
    second.cleaner.onRestart(restart(3, second.clock.now));
    assertEquals(second.cleaner.pending().length, 1);
    second.db.close();
    const third = await setup({ maxRestartCount: 2 }, dir);
    third.clock.now += 5 * MINUTE;
    assertEquals((await third.cleaner.tick()).map((r) => r.outcome), ["uninstalled"]);
    third.db.close();
    const fourth = await setup({ maxRestartCount: 2 }, dir);
    fourth.clock.now += 10 * MINUTE;
    assertEquals(await fourth.cleaner.tick(), []);
    assertEquals(fourth.uninstalled, []);
    fourth.db.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
