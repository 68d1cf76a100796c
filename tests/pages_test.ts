/**
 * The daemon's pages in a real browser (Debian's chromium, headless): `/`, `/sandboxes` and
 * `/cores` load from a running daemon over a simulated node (fake shims, a fake CRI runtime
 * naming their pods, real cores collected and stored) without a console error or a failed
 * load, and show what an SRE looks for. A screenshot of each is kept in
 * `test-output/pages/`. Clients that do not ask for HTML get what they always got.
 */
import { assert, assertEquals, assertStringIncludes } from "./support/assert.ts";
import { type Browser, browserMissing, openBrowser } from "./support/browser.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { type FakeCri, fakeCri, sandbox } from "./support/fake_cri.ts";
import { type FakeShim, startFakeShim, withSocketDir } from "./support/fake_shim.ts";
import { renderShimMetrics } from "./support/kata_metrics.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { waitFor } from "./support/net.ts";

const OUTPUT = new URL("../test-output/pages/", import.meta.url).pathname;
const noGcc = skipNotice("gcc", haveGcc());
const noBrowser = skipNotice("chromium", browserMissing() === undefined);

const NAMED = ["1".repeat(64), "2".repeat(64)];
const UNNAMED = "3".repeat(64);
const FAILING = "4".repeat(64);

/** A daemon over two named sandboxes, one without a pod, one failing, and two cores. */
async function withNode(fn: (daemon: TestDaemon) => Promise<void>): Promise<void> {
  await withSocketDir(async (dir) => {
    const shims: FakeShim[] = [];
    let cri: FakeCri | undefined;
    let daemon: TestDaemon | undefined;
    try {
      let tick = 0;
      for (const id of [...NAMED, UNNAMED]) {
        shims.push(
          await startFakeShim(`${dir}/v`, id, {
            mode: "ok",
            body: () => renderShimMetrics(id, tick++),
          }),
        );
      }
      shims.push(await startFakeShim(`${dir}/k`, FAILING, { mode: "error500" }));
      cri = await fakeCri({
        ListPodSandbox: () => ({
          items: NAMED.map((id, i) =>
            sandbox(id, {
              metadata: {
                name: `milvus-querynode-${i}`,
                uid: `uid-${i}`,
                namespace: "milvus",
                attempt: 0,
              },
            })
          ),
        }),
      });
      const cores = await sampleCores();
      await Deno.mkdir(`${dir}/cores`);
      // Named as core_pattern "core.%e.%p.%s.%t.%h" would: %h is the pod's hostname.
      const now = Math.floor(Date.now() / 1000);
      await Deno.copyFile(
        cores.threads.core,
        `${dir}/cores/core.threads.4242.11.${now}.milvus-querynode-0`,
      );
      await Deno.copyFile(
        cores.abort.core,
        `${dir}/cores/core.abort.4343.6.${now}.milvus-querynode-1`,
      );
      await Deno.writeTextFile(
        `${dir}/agent.yaml`,
        [
          `stateDir: ${dir}/state`,
          `collector: {paths: [${dir}/cores], settleInterval: 1s}`,
          `storage: {local: {path: ${dir}/store}}`,
          `kata: {sandboxRoots: [${dir}/v, ${dir}/k], runtimeEndpoint: ${cri.socket}, ` +
          "metricsInterval: 1s, criSyncInterval: 1s}",
          "",
        ].join("\n"),
      );
      daemon = await startDaemon({ dir, configFile: `${dir}/agent.yaml` });
      const json = async (path: string) =>
        await (await fetch(`${daemon!.base}${path}`, { headers: { accept: "application/json" } }))
          .json();
      // Named pods, two scrapes of each (CPU is a rate), both cores stored.
      await waitFor(
        async () => {
          const views = await json("/sandboxes") as { name: string; lastScrape: string | null }[];
          const stored = (await json("/cores") as { state: string }[])
            .filter((c) => c.state === "stored");
          return views.filter((v) => v.name).length === 2 && stored.length === 2 && tick >= 8;
        },
        "named sandboxes and two stored cores",
        120_000,
      );
      await fn(daemon);
    } finally {
      await daemon?.stop();
      for (const shim of shims) await shim.stop();
      await cri?.close();
    }
  });
}

async function keep(name: string, png: Uint8Array): Promise<string> {
  await Deno.mkdir(OUTPUT, { recursive: true });
  const path = `${OUTPUT}${name}.png`;
  await Deno.writeFile(path, png);
  return path;
}

Deno.test({
  name: "/, /sandboxes and /cores load in chromium without a console error, showing the node",
  ignore: noGcc || noBrowser,
  fn: () =>
    withNode(async (daemon) => {
      let browser: Browser | undefined;
      try {
        browser = await openBrowser();
        const pages: [string, string, string[]][] = [
          ["status", "/", [
            "Features up",
            "collector",
            "kata",
            "Cores per hour by crash group",
            "SIGSEGV",
          ]],
          ["sandboxes", "/sandboxes", [
            "milvus-querynode-0",
            "milvus-querynode-1",
            "unknown",
            "answered 500",
            "MiB of",
          ]],
          ["cores", "/cores", [
            "milvus-querynode-0",
            "write_value()",
            "SIGABRT",
            "_milvus-querynode-0_",
          ]],
        ];
        for (const [name, path, expected] of pages) {
          const visit = await browser.visit(`${daemon.base}${path}`);
          const shot = await keep(name, visit.screenshot);
          // deno-lint-ignore no-console
          console.log(`screenshot of ${path}: ${shot}`);
          assertEquals(visit.problems, [], `${path} in chromium`);
          assertStringIncludes(visit.title, "agent");
          for (const part of expected) assertStringIncludes(visit.text, part, `${path}: ${part}`);
          // A PNG, and a page with something drawn on it.
          assertEquals([...visit.screenshot.slice(1, 4)], [0x50, 0x4e, 0x47]);
          assert(visit.screenshot.length > 10_000, `${path}: a blank screenshot?`);
        }
      } finally {
        await browser?.close();
      }
    }),
});

Deno.test({
  name: "clients that do not ask for HTML get text and JSON as before, also from the daemon",
  ignore: noGcc,
  fn: () =>
    withNode(async (daemon) => {
      const get = async (path: string, accept?: string) => {
        const response = await fetch(`${daemon.base}${path}`, {
          headers: accept ? { accept } : {},
        });
        return { type: response.headers.get("content-type") ?? "", text: await response.text() };
      };
      const index = await get("/", "*/*");
      assertEquals(index.text.split("\n")[0], "Available HTTP endpoints:");
      const ids = await get("/sandboxes", "*/*");
      assertEquals(ids.text.trim().split("\n").sort(), [...NAMED, UNNAMED, FAILING].sort());
      const cores = await get("/cores", "*/*");
      assertStringIncludes(cores.type, "application/json");
      const list = JSON.parse(cores.text) as { state: string; breakdown: unknown[] | null }[];
      assertEquals(list.map((c) => c.state), ["stored", "stored"]);
      assert(list.every((c) => Array.isArray(c.breakdown) && c.breakdown.length > 0));
      // A browser's Accept gets HTML.
      const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
      for (const path of ["/", "/sandboxes", "/cores"]) {
        assertStringIncludes((await get(path, browser)).type, "text/html");
      }
    }),
});
