import { Buffer } from "node:buffer";
import { ConfigError, ExitCode } from "../errors.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../../tests/support/assert.ts";
import { containerdSkipNotice, startContainerd } from "../../tests/support/containerd.ts";
import { CriClient, CriError, criSocketPath } from "./cri.ts";
import { CriMetadataCache } from "./cri_cache.ts";
import { fakeCri, grpcError, sandbox, until } from "../../tests/support/fake_cri.ts";

const skipContainerd = containerdSkipNotice();

// --- the client ---------------------------------------------------------------------------

Deno.test("criSocketPath() accepts a path or unix:///path and rejects anything else", () => {
  assertEquals(criSocketPath("/run/containerd/containerd.sock"), "/run/containerd/containerd.sock");
  assertEquals(criSocketPath("unix:///run/crio/crio.sock"), "/run/crio/crio.sock");
  for (const bad of ["tcp://127.0.0.1:1234", "containerd.sock", "unix://relative.sock", ""]) {
    let error: unknown;
    try {
      new CriClient(bad);
    } catch (e) {
      error = e;
    }
    assert(error instanceof ConfigError, `expected a ConfigError for "${bad}"`);
    assertMatch(error.message, /^Invalid CRI runtime endpoint ".*": expected a socket path/);
  }
});

Deno.test("CriClient fails fast and clearly where nothing listens", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "agent-cri-" });
  try {
    await t.step("no socket file", async () => {
      // A deadline far beyond the test's own: code 14 (UNAVAILABLE), not 4 (DEADLINE_EXCEEDED),
      // says the call failed at once instead of waiting for the runtime to appear.
      await using client = new CriClient(`unix://${dir}/missing.sock`, { timeoutMs: 3_600_000 });
      const error = await assertRejects(() => client.listPodSandboxes(), CriError) as CriError;
      assertEquals(error.code, 14);
      assertEquals(error.exitCode, ExitCode.Unavailable);
      assertEquals(
        error.message,
        `Cannot reach the CRI runtime at ${dir}/missing.sock: 14 UNAVAILABLE: ` +
          `No connection established. Last error: connect ENOENT ${dir}/missing.sock`,
      );
    });
    await t.step("the socket of a runtime that was killed", async () => {
      const path = `${dir}/stale.sock`;
      // A listener killed with SIGKILL leaves its socket file behind (a clean close removes it).
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `await Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }).accept();`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await until("the listener's socket", () => {
        try {
          return Deno.statSync(path).isSocket === true;
        } catch {
          return false;
        }
      });
      child.kill("SIGKILL");
      await child.status;
      await using client = new CriClient(path);
      const error = await assertRejects(() => client.version(), CriError, "ECONNREFUSED");
      assertMatch(
        error.message,
        /^Cannot reach the CRI runtime at .*stale\.sock: 14 UNAVAILABLE: /,
      );
      assert(!error.message.includes("\n"));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CriClient gives up at its deadline when the runtime hangs", async () => {
  const fake = await fakeCri({ ListPodSandbox: () => new Promise(() => {}) });
  try {
    await using client = new CriClient(fake.socket, { timeoutMs: 200 });
    const started = performance.now();
    const error = await assertRejects(() => client.listPodSandboxes(), CriError) as CriError;
    const elapsed = performance.now() - started;
    assertEquals(
      error.message,
      `Cannot reach the CRI runtime at ${fake.socket}: 4 DEADLINE_EXCEEDED: ` +
        `no answer to ListPodSandbox within 0.2 s`,
    );
    assertEquals(error.code, 4);
    assert(elapsed >= 180, `took ${elapsed} ms`);
    // A per-call deadline overrides the client's.
    await assertRejects(() => client.listPodSandboxes({}, { timeoutMs: 50 }), CriError, "0.05 s");
  } finally {
    await fake.close();
  }
});

Deno.test("CriClient cancels a call when its signal aborts", async () => {
  const fake = await fakeCri({ Version: () => new Promise(() => {}) });
  try {
    await using client = new CriClient(fake.socket, { timeoutMs: 10_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("stopping")), 50);
    const started = performance.now();
    await assertRejects(() => client.version({ signal: controller.signal }), Error, "stopping");
    assert(performance.now() - started < 1000);
  } finally {
    await fake.close();
  }
});

Deno.test("CriClient turns errors the runtime returns into one-line CriErrors", async () => {
  const fake = await fakeCri({
    Version: () => {
      throw grpcError(12, "unknown service runtime.v1.RuntimeService");
    },
    ListPodSandbox: () => {
      throw grpcError(2, "failed to list sandboxes:\n  disk on fire\n  and more");
    },
    PodSandboxStatus: (request) => {
      throw grpcError(5, `an error occurred when try to find sandbox "${request.podSandboxId}"`);
    },
  });
  try {
    await using client = new CriClient(fake.socket);
    let error = await assertRejects(() => client.version(), CriError) as CriError;
    assertEquals(
      error.message,
      `The CRI runtime at ${fake.socket} failed Version: 12 UNIMPLEMENTED: ` +
        `unknown service runtime.v1.RuntimeService`,
    );
    assertEquals([error.code, error.method, error.exitCode], [12, "Version", 3]);
    error = await assertRejects(() => client.listPodSandboxes(), CriError) as CriError;
    assertEquals(
      error.message,
      `The CRI runtime at ${fake.socket} failed ListPodSandbox: 2 UNKNOWN: failed to list sandboxes:`,
    );
    error = await assertRejects(() => client.podSandboxStatus("abc"), CriError) as CriError;
    assertEquals(error.code, 5);
    assertMatch(error.message, /failed PodSandboxStatus: 5 NOT_FOUND: .*sandbox "abc"$/);
    assertEquals(fake.calls, {
      Version: 1,
      ListPodSandbox: 1,
      PodSandboxStatus: 1,
      ListContainers: 0,
      ListImages: 0,
    });
  } finally {
    await fake.close();
  }
});

Deno.test("CriClient rejects an answer that is not a protobuf message", async () => {
  // Field 1, length-delimited, claiming far more bytes than follow; then random bytes.
  const garbage = [
    Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]),
    Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256)),
  ];
  for (const bytes of garbage) {
    const fake = await fakeCri({ ListPodSandbox: () => ({ items: [] }) }, {
      serialize: { ListPodSandbox: () => bytes },
    });
    try {
      await using client = new CriClient(fake.socket);
      const error = await assertRejects(() => client.listPodSandboxes(), CriError) as CriError;
      assertEquals(error.code, 13);
      assertMatch(
        error.message,
        /^The CRI runtime at .* failed ListPodSandbox: 13 INTERNAL: [^\n]+$/,
      );
    } finally {
      await fake.close();
    }
  }
});

Deno.test("CriClient reads odd but valid answers without failing", async () => {
  const fake = await fakeCri({
    ListPodSandbox: () => ({
      items: [
        { id: "no-metadata" },
        sandbox("future-state", { state: 7, createdAt: "-5" }),
        sandbox("notready", { state: "SANDBOX_NOTREADY" }),
      ],
    }),
    PodSandboxStatus: () => ({}),
  });
  try {
    await using client = new CriClient(fake.socket);
    const items = await client.listPodSandboxes();
    assertEquals(items.map((s) => [s.id, s.uid, s.name, s.state]), [
      ["no-metadata", "", "", "ready"],
      ["future-state", "uid-future-state", "pod-future-state", "unknown"],
      ["notready", "uid-notready", "pod-notready", "notready"],
    ]);
    assertEquals(items[0]!.createdAt, 0);
    assertEquals(items[1]!.createdAt, 0);
    assertEquals(items[2]!.createdAt, 1700000000123);
    assertEquals(items[2]!.runtimeHandler, "kata");
    assertEquals(items[2]!.labels, { app: "demo" });
    await assertRejects(() => client.podSandboxStatus("x"), CriError, "sent no status for sandbox");
  } finally {
    await fake.close();
  }
});

Deno.test("CriClient sends the filter and reads the status", async () => {
  const requests: Record<string, unknown>[] = [];
  const fake = await fakeCri({
    ListPodSandbox: (request) => {
      requests.push(request);
      return { items: [] };
    },
    PodSandboxStatus: (request) => ({
      status: {
        ...sandbox(String(request.podSandboxId)),
        network: { ip: "10.0.0.7", additionalIps: [{ ip: "fd00::7" }] },
      },
      info: { ignored: "{}" },
    }),
  });
  try {
    await using client = new CriClient(fake.socket);
    await client.listPodSandboxes({ state: "ready", labelSelector: { app: "demo" } });
    await client.listPodSandboxes({ id: "abc", state: "notready" });
    await client.listPodSandboxes();
    assertEquals(requests.map((r) => r.filter), [
      { id: "", state: { state: "SANDBOX_READY" }, labelSelector: { app: "demo" } },
      { id: "abc", state: { state: "SANDBOX_NOTREADY" }, labelSelector: {} },
      { id: "", state: null, labelSelector: {} },
    ]);
    const status = await client.podSandboxStatus("s1");
    assertEquals(status, {
      id: "s1",
      uid: "uid-s1",
      name: "pod-s1",
      namespace: "default",
      attempt: 0,
      state: "ready",
      createdAt: 1700000000123,
      runtimeHandler: "kata",
      labels: { app: "demo" },
      annotations: {},
      ip: "10.0.0.7",
      additionalIps: ["fd00::7"],
    });
  } finally {
    await fake.close();
  }
});

Deno.test("CriClient reads a large list and refuses one larger than maxResponseBytes", async () => {
  const count = 10_000;
  const items = Array.from({ length: count }, (_, i) =>
    sandbox(`${i}`.padStart(64, "0"), {
      labels: { "io.kubernetes.pod.name": `pod-${i}`, "io.kubernetes.pod.namespace": "ns" },
      annotations: { "io.kubernetes.cri.sandbox-log-directory": `/var/log/pods/ns_pod-${i}` },
    }));
  const fake = await fakeCri({ ListPodSandbox: () => ({ items }) });
  try {
    await using client = new CriClient(fake.socket, { timeoutMs: 10_000 });
    const listed = await client.listPodSandboxes();
    assertEquals(listed.length, count);
    assertEquals(listed[count - 1]!.name, `pod-${`${count - 1}`.padStart(64, "0")}`);

    await using small = new CriClient(fake.socket, {
      maxResponseBytes: 64 * 1024,
      timeoutMs: 10_000,
    });
    const error = await assertRejects(() => small.listPodSandboxes(), CriError) as CriError;
    assertEquals(error.code, 8);
    assertMatch(
      error.message,
      /failed ListPodSandbox: 8 RESOURCE_EXHAUSTED: Received message larger than max \(\d+ vs 65536\)$/,
    );
  } finally {
    await fake.close();
  }
});

Deno.test("CriClient fails calls made after close()", async () => {
  const fake = await fakeCri({ Version: () => ({ version: "0.1.0" }) });
  try {
    const client = new CriClient(fake.socket);
    assertEquals((await client.version()).version, "0.1.0");
    await client.close();
    await assertRejects(() => client.version(), CriError, "is closed");
  } finally {
    await fake.close();
  }
});

// --- the metadata cache -------------------------------------------------------------------

Deno.test({
  name: "CriClient and CriMetadataCache against a real containerd",
  ignore: skipContainerd,
  async fn(t) {
    const containerd = await startContainerd();
    const client = new CriClient(containerd.socket);
    try {
      await t.step("version() reports containerd speaking runtime.v1", async () => {
        const version = await client.version();
        assertEquals(version.runtimeName, "containerd");
        assertEquals(version.runtimeApiVersion, "v1");
        assert(version.runtimeVersion.length > 0);
      });

      const specs = [
        { name: "web-0", namespace: "shop", uid: crypto.randomUUID(), labels: { app: "web" } },
        { name: "db-0", namespace: "shop", uid: crypto.randomUUID(), attempt: 2 },
        {
          name: "job-x",
          namespace: "batch",
          uid: crypto.randomUUID(),
          annotations: { "example.com/note": "made by cri_test.ts" },
        },
      ];
      const ids: string[] = [];
      for (const spec of specs) ids.push(await containerd.runSandbox(spec));

      await t.step("listPodSandboxes() shows the sandboxes with their metadata", async () => {
        const listed = await client.listPodSandboxes();
        assertEquals(listed.length, specs.length);
        for (const [i, spec] of specs.entries()) {
          const item = listed.find((s) => s.id === ids[i]);
          assert(item, `sandbox ${ids[i]} not listed`);
          assertEquals(
            [item.uid, item.name, item.namespace, item.attempt, item.state],
            [spec.uid, spec.name, spec.namespace, spec.attempt ?? 0, "ready"],
          );
          assertEquals(item.labels, spec.labels ?? {});
          assertEquals(item.annotations, spec.annotations ?? {});
          assert(Math.abs(item.createdAt - Date.now()) < 60_000, `createdAt ${item.createdAt}`);
        }
        const web = await client.listPodSandboxes({ labelSelector: { app: "web" } });
        assertEquals(web.map((s) => s.id), [ids[0]]);
      });

      await t.step("listPodSandboxes({ state }) tells stopped sandboxes apart", async () => {
        await containerd.stopSandbox(ids[2]!);
        const ready = await client.listPodSandboxes({ state: "ready" });
        assertEquals(ready.map((s) => s.id).sort(), [ids[0], ids[1]].sort());
        const notReady = await client.listPodSandboxes({ state: "notready" });
        assertEquals(notReady.map((s) => [s.id, s.state]), [[ids[2], "notready"]]);
      });

      await t.step(
        "podSandboxStatus() reports one sandbox; NOT_FOUND for an unknown id",
        async () => {
          const status = await client.podSandboxStatus(ids[1]!);
          assertEquals(
            [status.id, status.uid, status.name, status.namespace, status.attempt, status.state],
            [ids[1], specs[1]!.uid, "db-0", "shop", 2, "ready"],
          );
          const error = await assertRejects(
            () => client.podSandboxStatus("0".repeat(64)),
            CriError,
          ) as CriError;
          assertEquals(error.code, 5);
          assertMatch(
            error.message,
            /^The CRI runtime at .* failed PodSandboxStatus: 5 NOT_FOUND: /,
          );
        },
      );

      await t.step("CriMetadataCache fills a new sandbox within the sync interval", async () => {
        const controller = new AbortController();
        const cache = new CriMetadataCache({ client, syncIntervalMs: 300 });
        cache.onSandboxesChanged(ids);
        const loop = cache.run(controller.signal);
        try {
          await until("the initial sync", () => cache.stats().refreshes === 1);
          assertEquals(cache.get(ids[0]!), {
            uid: specs[0]!.uid,
            name: "web-0",
            namespace: "shop",
          });
          const uid = crypto.randomUUID();
          const id = await containerd.runSandbox({ name: "late-0", namespace: "shop", uid });
          cache.onSandboxesChanged([...ids, id]);
          const elapsed = await until(
            "the new sandbox's metadata",
            () => cache.get(id) !== undefined,
          );
          assert(elapsed >= 250 && elapsed < 3000, `filled after ${elapsed} ms`);
          assertEquals(cache.get(id), { uid, name: "late-0", namespace: "shop" });
          assertEquals(cache.stats().refreshes, 2);

          // Removed from the runtime but still reported: the last-known metadata stays.
          await containerd.removeSandbox(id);
          await cache.refresh();
          assertEquals(cache.get(id), { uid, name: "late-0", namespace: "shop" });
          // Once no longer reported either, it is gone after the next sync.
          cache.onSandboxesChanged(ids);
          await cache.refresh();
          assertEquals(cache.get(id), undefined);
        } finally {
          controller.abort();
          await loop;
        }
      });

      await t.step("removed sandboxes leave the list", async () => {
        await containerd.removeSandbox(ids[2]!);
        const listed = await client.listPodSandboxes();
        assertEquals(listed.map((s) => s.id).sort(), [ids[0], ids[1]].sort());
      });
    } finally {
      await client.close();
      await containerd.close();
    }
  },
});
