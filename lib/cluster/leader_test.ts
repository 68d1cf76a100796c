import { assert, assertEquals } from "../../tests/support/assert.ts";
import { KubeEmulator } from "../../tests/support/kube/emulator.ts";
import { waitFor } from "../../tests/support/net.ts";
import { KubeClient } from "../kube/mod.ts";
import { LeaderElector } from "./leader.ts";

interface Contender {
  elector: LeaderElector;
  terms: { start: number; end?: number }[];
  stop(): Promise<void>;
  /** Cuts it off from the API (its requests fail), as a network partition would. */
  partition(cut: boolean): void;
}

function contend(
  emu: KubeEmulator,
  identity: string,
  timing = { lease: 1500, renew: 900, retry: 150 },
): Contender {
  let cut = false;
  const fetcher: typeof fetch = (input, init) =>
    cut ? Promise.reject(new TypeError("network unreachable")) : fetch(input, init);
  const client = new KubeClient({
    server: emu.url,
    namespace: "agent-system",
    source: "test",
    headers: () => Promise.resolve({}),
  }, fetcher);
  const elector = new LeaderElector({
    client,
    namespace: "agent-system",
    name: "agent-platform",
    identity,
    leaseDurationMs: timing.lease,
    renewDeadlineMs: timing.renew,
    retryPeriodMs: timing.retry,
  });
  const terms: { start: number; end?: number }[] = [];
  const controller = new AbortController();
  const running = elector.run(controller.signal, (leading) => {
    const term: { start: number; end?: number } = { start: performance.now() };
    terms.push(term);
    return new Promise((resolve) =>
      leading.addEventListener("abort", () => {
        term.end = performance.now();
        resolve();
      }, { once: true })
    );
  });
  return {
    elector,
    terms,
    stop: async () => {
      controller.abort();
      await running;
    },
    partition: (value) => (cut = value),
  };
}

async function withLeaseCluster(fn: (emu: KubeEmulator) => Promise<void>): Promise<void> {
  const emu = await KubeEmulator.start();
  try {
    emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "agent-system" } });
    await fn(emu);
  } finally {
    await emu.close();
  }
}

function overlaps(a: Contender, b: Contender): boolean {
  return a.terms.some((x) =>
    b.terms.some((y) => x.start < (y.end ?? Infinity) && y.start < (x.end ?? Infinity))
  );
}

Deno.test("LeaderElector: of three agents exactly one leads, and the Lease names it", () =>
  withLeaseCluster(async (emu) => {
    const agents = ["a", "b", "c"].map((id) => contend(emu, id));
    try {
      await waitFor(() => agents.some((a) => a.elector.leading), "a leader");
      // Several renewals later there is still one, the same.
      const leader = agents.find((a) => a.elector.leading)!;
      await waitFor(
        () => agents.every((a) => a.elector.holder === leader.elector.holder),
        "all see it",
      );
      assertEquals(agents.filter((a) => a.elector.leading).length, 1);
      const lease = emu.get("leases", "agent-system", "agent-platform")!;
      const spec = lease.spec as Record<string, unknown>;
      assertEquals(spec.holderIdentity, ["a", "b", "c"][agents.indexOf(leader)]);
      assertEquals(spec.leaseDurationSeconds, 2);
      assert(
        /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(String(spec.renewTime)),
        String(spec.renewTime),
      );
    } finally {
      for (const a of agents) await a.stop();
    }
  }));

Deno.test("LeaderElector: a leader that stops releases the Lease to another at once", () =>
  withLeaseCluster(async (emu) => {
    const a = contend(emu, "a", { lease: 60_000, renew: 30_000, retry: 100 });
    await waitFor(() => a.elector.leading, "a leads");
    const b = contend(emu, "b", { lease: 60_000, renew: 30_000, retry: 100 });
    try {
      await waitFor(() => b.elector.holder === "a", "b sees a");
      await a.stop();
      assertEquals(
        (emu.get("leases", "agent-system", "agent-platform")!.spec as Record<string, unknown>)
          .holderIdentity,
        "",
      );
      // Well within the 60 s lease: the release hands over at b's next try.
      await waitFor(() => b.elector.leading, "b leads");
      assertEquals(
        (emu.get("leases", "agent-system", "agent-platform")!.spec as Record<string, unknown>)
          .leaseTransitions,
        1,
      );
      assert(!overlaps(a, b));
    } finally {
      await b.stop();
      await a.stop();
    }
  }));

Deno.test("LeaderElector: a leader cut off stops before another takes over", () =>
  withLeaseCluster(async (emu) => {
    const a = contend(emu, "a");
    await waitFor(() => a.elector.leading, "a leads");
    const b = contend(emu, "b");
    try {
      await waitFor(() => b.elector.holder === "a", "b sees a");
      a.partition(true);
      await waitFor(() => b.elector.leading, "b leads");
      assert(!a.elector.leading);
      assertEquals(a.terms.length, 1);
      assert(a.terms[0]!.end !== undefined);
      assert(!overlaps(a, b), JSON.stringify({ a: a.terms, b: b.terms }));
      // Back on the network, a sees b and waits.
      a.partition(false);
      await waitFor(() => a.elector.holder === "b", "a sees b");
      assert(!a.elector.leading);
    } finally {
      await a.stop();
      await b.stop();
    }
  }));

Deno.test("LeaderElector: a takeover that loses the resourceVersion race does not lead", () =>
  withLeaseCluster(async (emu) => {
    const lease = (holder: string) => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "agent-platform", namespace: "agent-system" },
      spec: { holderIdentity: holder, leaseDurationSeconds: 60 },
    });
    emu.put(lease(""));
    // Between this agent's read and its write, another agent takes the Lease.
    let statuses: number[] = [];
    let raced = false;
    const fetcher: typeof fetch = async (input, init) => {
      if (init?.method === "PUT" && !raced) {
        raced = true;
        emu.put(lease("other"));
      }
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const client = new KubeClient({
      server: emu.url,
      namespace: "agent-system",
      source: "test",
      headers: () => Promise.resolve({}),
    }, fetcher);
    const elector = new LeaderElector({
      client,
      namespace: "agent-system",
      name: "agent-platform",
      identity: "late",
      leaseDurationMs: 60_000,
      renewDeadlineMs: 30_000,
      retryPeriodMs: 100,
    });
    const controller = new AbortController();
    let led = false;
    const running = elector.run(controller.signal, () => {
      led = true;
      return Promise.resolve();
    });
    try {
      await waitFor(() => elector.holder === "other", "the other holder seen");
      assert(statuses.includes(409), statuses.join(","));
      statuses = [];
      await waitFor(() => statuses.length >= 2, "another try");
      assert(!led && !elector.leading);
    } finally {
      controller.abort();
      await running;
    }
  }));
