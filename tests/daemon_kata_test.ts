/**
 * `agent daemon` as a kata-monitor replacement: fake shims serving realistic metrics on
 * Unix sockets under two sandbox roots, pod metadata from a real containerd (CRI) when this
 * machine can run one, and `/sandboxes`, `/metrics` (aggregated, per sandbox, filtered,
 * gzipped, OpenMetrics) checked by promtool and scraped by a real Prometheus.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { agentArgs, DENO_DIR } from "./support/cli.ts";
import { haveCommand, skipBecause, skipNotice } from "./support/cores.ts";
import { type Containerd, containerdSkipReason, startContainerd } from "./support/containerd.ts";
import { type FakeShim, startFakeShim, withSocketDir } from "./support/fake_shim.ts";
import { gunzipSync } from "node:zlib";
import { renderShimMetrics } from "./support/kata_metrics.ts";
import { freePort, waitFor } from "./support/net.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { promtoolCheck } from "./support/promtool.ts";

const noPromtool = skipNotice("promtool", haveCommand("promtool"));
const noPrometheus = skipNotice("prometheus", haveCommand("prometheus"));

interface Node {
  dir: string;
  base: string;
  port: number;
  ids: { named: string[]; unnamed: string; hanging: string };
  pods: Map<string, { uid: string; name: string; namespace: string }>;
  /** A runc container (no Kata sandbox) whose cgroup the node collectors report. */
  runc?: { sandbox: string; container: string };
  shims: FakeShim[];
  daemon: Deno.ChildProcess;
  stderr: Promise<string>;
}

/** Fake shims (two with pods in containerd when it runs), then the daemon over them. */
async function withNode(fn: (node: Node) => Promise<void>): Promise<void> {
  await withSocketDir(async (dir) => {
    let containerd: Containerd | undefined;
    let runc: Node["runc"];
    const pods = new Map<string, { uid: string; name: string; namespace: string }>();
    const named: string[] = [];
    if (containerdSkipReason() === undefined) {
      containerd = await startContainerd();
      for (const n of [0, 1]) {
        const pod = {
          name: `web-${n}`,
          namespace: "shop",
          uid: `0b8c5a3e-0000-4000-8000-00000000000${n}`,
        };
        const id = await containerd.runSandbox(pod);
        pods.set(id, pod);
        named.push(id);
      }
      const sandbox = await containerd.runSandbox({
        name: "job-0",
        namespace: "batch",
        uid: "0b8c5a3e-0000-4000-8000-0000000000ff",
      });
      runc = { sandbox, container: await containerd.runContainer(sandbox, { name: "work" }) };
    } else {
      skipBecause(
        `no real containerd (${containerdSkipReason()})`,
        "the sandboxes of this test have no pod names",
      );
      named.push("a".repeat(64), "b".repeat(64));
    }
    const unnamed = "c".repeat(64);
    const hanging = "d".repeat(64);
    let tick = 0;
    const shims: FakeShim[] = [];
    try {
      for (const id of named) shims.push(await metricsShim(`${dir}/v`, id, () => tick++));
      shims.push(await metricsShim(`${dir}/k`, unnamed, () => tick++, { gzip: true }));
      shims.push(await startFakeShim(`${dir}/k`, hanging, { mode: "hang" }));
      const port = freePort();
      await Deno.writeTextFile(
        `${dir}/agent.yaml`,
        `stateDir: ${dir}/state
collector: {paths: []}
kata:
  sandboxRoots: [${dir}/v, ${dir}/k]
  runtimeEndpoint: ${containerd?.socket ?? `${dir}/no-runtime.sock`}
  metricsInterval: 1s
  scrapeTimeout: 500ms
  criSyncInterval: 300ms
server: {listenAddress: "127.0.0.1:${port}"}
`,
      );
      const daemon = new Deno.Command(Deno.execPath(), {
        args: agentArgs(["--config", `${dir}/agent.yaml`, "daemon"]),
        env: { NO_COLOR: "1", DENO_DIR, HOME: dir, KUBECONFIG: "" },
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(daemon.stderr).text();
      const base = `http://127.0.0.1:${port}`;
      try {
        await waitFor(async () => (await fetch(`${base}/readyz`)).ok, "readiness");
        await fn({
          dir,
          base,
          port,
          ids: { named, unnamed, hanging },
          pods,
          ...(runc ? { runc } : {}),
          shims,
          daemon,
          stderr,
        });
      } finally {
        try {
          daemon.kill("SIGTERM");
        } catch {
          // Already stopped by the test.
        }
        const started = Date.now();
        const status = await daemon.status;
        const log = await stderr;
        assertEquals(status.code, 0, log);
        assert(Date.now() - started < 5000, "the daemon took over 5 s to stop");
      }
    } finally {
      for (const shim of shims) await shim.stop();
      await containerd?.close();
    }
  });
}

/** A fake shim serving realistic metrics, new values on every scrape. */
function metricsShim(
  root: string,
  id: string,
  tick: () => number,
  options: { gzip?: boolean } = {},
): Promise<FakeShim> {
  return startFakeShim(root, id, {
    mode: "ok",
    body: () => renderShimMetrics(id, tick()),
    ...options,
  });
}

/** The daemon over the sandboxes under `<dir>/v`, scraping every second, with no CRI runtime. */
function kataDaemon(dir: string): Promise<TestDaemon> {
  return startDaemon({
    dir,
    config: `kata:
  sandboxRoots: [${dir}/v]
  runtimeEndpoint: ${dir}/no-runtime.sock
  metricsInterval: 1s`,
  });
}

async function text(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  return { status: response.status, text: await response.text(), headers: response.headers };
}

Deno.test("the daemon serves every sandbox's metrics like kata-monitor, with pods from CRI", () =>
  withNode(async ({ base, ids, pods, runc, shims }) => {
    const all = [...ids.named, ids.unnamed, ids.hanging].sort();
    await waitFor(
      async () => (await text(`${base}/sandboxes`)).text === all.join("\n") + "\n",
      "the sandbox list",
    );
    // Metadata from the runtime, and the hanging shim's error, in the JSON view.
    await waitFor(async () => {
      const list = await (await fetch(`${base}/sandboxes`, {
        headers: { accept: "application/json" },
      })).json() as { id: string; name: string; lastError: string | null }[];
      const hanging = list.find((s) => s.id === ids.hanging);
      return list.filter((s) => s.name !== "").length === pods.size &&
        (hanging?.lastError ?? "").includes("timed out");
    }, "pod metadata and the hanging shim's error");

    let metrics = "";
    await waitFor(async () => {
      metrics = (await text(`${base}/metrics`)).text;
      return ids.named.every((id) => metrics.includes(`sandbox_id="${id}"`)) &&
        metrics.includes(`sandbox_id="${ids.unnamed}"`) &&
        [...pods.values()].every((p) => metrics.includes(`cri_name="${p.name}"`));
    }, "every good shim's samples in /metrics");
    assertStringIncludes(metrics, "kata_monitor_running_shim_count 4");
    assertMatch(metrics, /kata_monitor_scrape_failed_count [1-9]/);
    assertEquals(metrics.includes(`sandbox_id="${ids.hanging}"`), false);
    // One HELP and TYPE per family, whatever the number of sandboxes.
    assertEquals(
      metrics.split("\n").filter((l) => l === "# TYPE kata_guest_meminfo gauge").length,
      1,
    );
    // go_ and process_ families renamed.
    assertEquals(/^(go|process)_/m.test(metrics), false);
    assertMatch(metrics, /^kata_shim_go_goroutines\{sandbox_id="/m);
    for (const [id, pod] of pods) {
      assertStringIncludes(
        metrics,
        `sandbox_id="${id}",cri_uid="${pod.uid}",cri_name="${pod.name}",cri_namespace="${pod.namespace}"`,
      );
      assertMatch(
        metrics,
        new RegExp(
          `^container_memory_working_set_bytes\\{[^}]*namespace="${pod.namespace}",pod="${pod.name}"\\} \\d`,
          "m",
        ),
      );
    }
    assertStringIncludes(
      metrics,
      `sandbox_id="${ids.unnamed}",cri_uid="",cri_name="",cri_namespace=""`,
    );
    if (runc) {
      // The host's runc container beside the sandboxes, under the same families: one block
      // per name. The Kata sandboxes' own cgroups (their pause containers here) are left to
      // the series derived from their guests.
      await waitFor(async () => {
        metrics = (await text(`${base}/metrics`)).text;
        return metrics.includes(`name="${runc.container}",namespace="batch",pod="job-0"}`);
      }, "the runc container's series with its pod");
      assertMatch(
        metrics,
        new RegExp(
          `^container_cpu_usage_seconds_total\{container="work",cpu="total",id="[^"]*/${runc.container}",image="localhost/agent-test/workload:1",name="${runc.container}",namespace="batch",pod="job-0"\} `,
          "m",
        ),
      );
      assertEquals(
        metrics.split("\n").filter((l) => l === "# TYPE container_memory_working_set_bytes gauge")
          .length,
        1,
      );
      for (const id of ids.named) {
        assertEquals(metrics.includes(`/${id}",`), false, `the cgroup of Kata sandbox ${id}`);
      }
    }
    if (!noPromtool) {
      const checked = await promtoolCheck(metrics);
      assertEquals(checked.defects, []);
    }

    // Filtered, gzipped, OpenMetrics.
    const guest = (await text(`${base}/metrics?filter_family=kata_guest_,container_cpu`)).text;
    const families = new Set(
      guest.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]!),
    );
    assert(
      [...families].every((f) => f.startsWith("kata_guest_") || f.startsWith("container_cpu")),
      [...families].join(","),
    );
    assert(families.has("kata_guest_meminfo"));
    const zipped = await fetch(`${base}/metrics`, { headers: { "accept-encoding": "gzip" } });
    assertEquals(zipped.headers.get("content-encoding"), "gzip");
    // fetch decodes gzip itself: a body that decodes shows the stitched member is valid.
    const unzipped = await zipped.text();
    assertStringIncludes(unzipped, "kata_monitor_running_shim_count");
    assertStringIncludes(unzipped, `# TYPE kata_guest_meminfo gauge`);
    assertStringIncludes(unzipped, `sandbox_id="${ids.unnamed}"`);
    const om = await text(`${base}/metrics`, {
      accept: "application/openmetrics-text;version=1.0.0",
    });
    assertStringIncludes(om.headers.get("content-type") ?? "", "application/openmetrics-text");
    assert(om.text.endsWith("# EOF\n"));

    // One sandbox, as its shim says it; bad and unknown ids; a failing shim.
    const one = await text(`${base}/metrics?sandbox=${ids.unnamed}`);
    assertEquals(one.status, 200);
    assertStringIncludes(one.text, "# TYPE kata_guest_meminfo gauge");
    assertEquals(one.text.includes("sandbox_id="), false);
    assertEquals((await text(`${base}/metrics?sandbox=../../etc`)).status, 400);
    assertEquals((await text(`${base}/metrics?sandbox=${"e".repeat(64)}`)).status, 404);
    const failing = await text(`${base}/metrics?sandbox=${ids.hanging}`);
    // A shim that does not answer in time is a gateway timeout.
    assertEquals(failing.status, 504);
    assertStringIncludes(failing.text, "timed out");

    // A sandbox that goes away leaves /sandboxes and /metrics.
    const gone = shims.find((s) => s.sandboxDir.endsWith(ids.unnamed))!;
    await gone.stop();
    await Deno.remove(gone.sandboxDir, { recursive: true });
    await waitFor(
      async () => !(await text(`${base}/sandboxes`)).text.includes(ids.unnamed),
      "removal",
    );
    await waitFor(
      async () => !(await text(`${base}/metrics`)).text.includes(ids.unnamed),
      "its samples to go",
    );
  }));

Deno.test({
  name: "a real Prometheus scrapes the daemon's /metrics without errors",
  ignore: noPrometheus,
  fn: () =>
    withNode(async ({ port, dir, ids }) => {
      const web = freePort();
      await Deno.writeTextFile(
        `${dir}/prometheus.yml`,
        `global: {scrape_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: agent
    static_configs: [{targets: ["127.0.0.1:${port}"]}]
`,
      );
      const prometheus = new Deno.Command("prometheus", {
        args: [
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/tsdb`,
          `--web.listen-address=127.0.0.1:${web}`,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const log = new Response(prometheus.stderr).text();
      const api = `http://127.0.0.1:${web}/api/v1`;
      try {
        let target: { health: string; lastError: string } | undefined;
        await waitFor(
          async () => {
            const targets = await (await fetch(`${api}/targets`)).json();
            target = targets.data.activeTargets[0];
            return target?.health === "up";
          },
          "Prometheus to scrape the daemon",
          30_000,
        );
        assertEquals(target?.lastError, "");
        await waitFor(async () => {
          const query = encodeURIComponent(
            `count(kata_guest_meminfo{sandbox_id="${ids.unnamed}"})`,
          );
          const result = await (await fetch(`${api}/query?query=${query}`)).json();
          return Number(result.data.result[0]?.value[1] ?? 0) > 0;
        }, "the sandbox's series in Prometheus");
      } finally {
        prometheus.kill("SIGTERM");
        await prometheus.status;
        await log;
      }
    }),
});

Deno.test("the daemon counts shims answering garbage as failed and passes their bytes on", () =>
  withSocketDir(async (dir) => {
    const good = "a".repeat(64);
    const encoder = new TextEncoder();
    // 200 answers that are not Prometheus text; the last one is not even UTF-8.
    const garbage = new Map<string, Uint8Array<ArrayBuffer>>([
      ["b".repeat(64), encoder.encode("<html><body>502 Bad Gateway</body></html>\n")],
      ["c".repeat(64), encoder.encode('{"metrics": "unavailable"}\n')],
      ["d".repeat(64), new Uint8Array([0x6b, 0x20, 0xff, 0x0a, 0x00, 0xfe, 0x80, 0x0a])],
    ]);
    const shims = [await startFakeShim(`${dir}/v`, good, { mode: "ok" })];
    for (const [id, bytes] of garbage) {
      shims.push(await startFakeShim(`${dir}/v`, id, { mode: "ok", bytes: () => bytes.slice() }));
    }
    let daemon: TestDaemon | undefined;
    try {
      daemon = await kataDaemon(dir);
      const base = daemon.base;
      type View = { id: string; lastScrape: string | null; lastError: string | null };
      let list: View[] = [];
      await waitFor(async () => {
        list = await (await fetch(`${base}/sandboxes`, {
          headers: { accept: "application/json" },
        })).json();
        return list.length === 4 && list.every((s) => s.lastScrape !== null);
      }, "every sandbox scraped");
      for (const view of list) {
        if (view.id === good) assertEquals(view.lastError, null);
        else {
          assertMatch(
            view.lastError ?? "",
            /answered no Prometheus text \(Line 1: |sent a body that is not UTF-8 text/,
          );
        }
      }
      const metrics = await (await fetch(`${base}/metrics`)).text();
      const failed = Number(/^kata_monitor_scrape_failed_count (\S+)$/m.exec(metrics)?.[1]);
      assert(failed >= 3, `kata_monitor_scrape_failed_count ${failed}`);
      assertStringIncludes(metrics, `sandbox_id="${good}"`);
      for (const id of garbage.keys()) assertEquals(metrics.includes(id), false);
      // The per-sandbox view passes the shim's bytes on as they are, even when not UTF-8.
      for (const [id, bytes] of garbage) {
        const response = await fetch(`${base}/metrics?sandbox=${id}`);
        assertEquals(response.status, 200);
        assertEquals(new Uint8Array(await response.arrayBuffer()), bytes);
      }
    } finally {
      await daemon?.stop();
      for (const shim of shims) await shim.stop();
    }
  }));

/** Sends `GET /metrics` on a connection of its own and reads only the start of the answer. */
async function startSlowAnswer(port: number, headers: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`,
    ),
  );
  // The answer has begun: its body's arrays are in the server's hands.
  const first = new Uint8Array(1024);
  const got = await conn.read(first);
  assert(got !== null && got > 0, "the answer starts");
  return Object.assign(conn, { first: first.subarray(0, got) });
}

/** The rest of an answer begun by {@linkcode startSlowAnswer}: its head and whole body. */
async function finishSlowAnswer(conn: Deno.TcpConn): Promise<{ head: string; body: Uint8Array }> {
  const chunks = [(conn as Deno.TcpConn & { first: Uint8Array }).first];
  const buffer = new Uint8Array(64 << 10);
  for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
    chunks.push(buffer.slice(0, n));
  }
  conn.close();
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) (all.set(chunk, at), at += chunk.length);
  const end = all.findIndex((_, i) =>
    all[i] === 13 && all[i + 1] === 10 && all[i + 2] === 13 && all[i + 3] === 10
  );
  const head = new TextDecoder().decode(all.subarray(0, end));
  const body = all.subarray(end + 4);
  const length = Number(/^content-length: (\d+)$/im.exec(head)?.[1]);
  assertEquals(body.length, length, "the whole body, as long as announced");
  return { head, body };
}

/** Each sandbox series of a body (name and labels), without values. */
function sandboxSeries(text: string): string[] {
  return text.split("\n").filter((line) => line.includes('sandbox_id="'))
    .map((line) => line.slice(0, line.lastIndexOf(" "))).sort();
}

Deno.test("the daemon's answers in flight keep whole bodies while new scrapes replace them", () =>
  withSocketDir(async (dir) => {
    // About 10 MB of plain body, more than the sockets' buffers take (4 MB or so) while
    // nobody reads: the server is still writing the answer when the state changes.
    const ids = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(64, "e"));
    const padding = (tick: number) =>
      "# TYPE test_padding gauge\n" +
      Array.from({ length: 1500 }, (_, i) => `test_padding{i="${i}"} ${tick}.${i}\n`).join("");
    let tick = 0;
    const shims: FakeShim[] = [];
    let daemon: TestDaemon | undefined;
    try {
      for (const id of ids) {
        shims.push(
          await startFakeShim(`${dir}/v`, id, {
            mode: "ok",
            body: () => renderShimMetrics(id, ++tick) + padding(tick),
          }),
        );
      }
      daemon = await kataDaemon(dir);
      const { base, port } = daemon;
      const metrics = async (gzip: boolean) =>
        await (await fetch(`${base}/metrics`, {
          headers: { "accept-encoding": gzip ? "gzip" : "identity" },
        })).text();
      await waitFor(
        async () => {
          const text = await metrics(true);
          return ids.every((id) => text.includes(`sandbox_id="${id}"`));
        },
        "every sandbox in /metrics",
        30_000,
      );
      const lines = (text: string) =>
        text.split("\n").filter((line) => line.includes('sandbox_id="')).join("\n");
      let last = lines(await metrics(false));
      const plain = await startSlowAnswer(port, "");
      const zipped = await startSlowAnswer(port, "Accept-Encoding: gzip\r\n");
      // Two new states of the aggregate (new scrapes) while the two answers wait for their
      // reader: each change retires the bodies of the state before.
      for (let change = 0; change < 2; change++) {
        await waitFor(
          async () => {
            const now = lines(await metrics(true));
            if (now === last) return false;
            last = now;
            return true;
          },
          "a new state of the aggregate",
          30_000,
        );
      }
      const fresh = sandboxSeries(await metrics(false));
      const answers = [await finishSlowAnswer(plain), await finishSlowAnswer(zipped)];
      assertMatch(answers[1]!.head, /^content-encoding: gzip$/im);
      const texts = [
        new TextDecoder().decode(answers[0]!.body),
        new TextDecoder().decode(gunzipSync(answers[1]!.body)),
      ];
      for (const text of texts) {
        // Every series of every sandbox, as a fresh answer has them (values move on).
        assertEquals(sandboxSeries(text), fresh);
        assertStringIncludes(text, "kata_monitor_running_shim_count ");
      }
    } finally {
      await daemon?.stop();
      for (const shim of shims) await shim.stop();
    }
  }));
