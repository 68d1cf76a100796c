/**
 * `agent daemon` with AI crash analysis, against the model API emulator: one request for 50
 * cores of one bug, each stored core with its `.ai.json`; the explanation on `/cores`, in
 * `/metrics` and in the `CoreDumped` Event's message (on the Kubernetes API emulator and on a
 * real API server), with the pod's image and instance in the prompt; and the cores stored exactly the same with the AI stage off, on, or failing, with no
 * secret of the crashed process (a canary in its environment, arguments and memory) in any
 * request.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { crash, haveCommand, haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import type { Json } from "./support/kube/_match.ts";
import { kubeServers } from "./support/kube_servers.ts";
import { helmPod, installHelmRelease } from "./support/kube/fixtures.ts";
import { ModelApiEmulator } from "./support/model_api.ts";
import { filesUnder } from "./support/files.ts";
import { waitFor } from "./support/net.ts";
import { promtoolCheck } from "./support/promtool.ts";
import type { CoreAi } from "../lib/ai/mod.ts";
import type { CoreRecord } from "../lib/store/mod.ts";

const noGcc = skipNotice("gcc", haveGcc());
const noPromtool = skipNotice("promtool", haveCommand("promtool"));
const KEY = "sk-daemon-emulated";

type Core = CoreRecord & { ai: CoreAi | null };

/** A whole configuration: the cores in `dir/in`, the store in `dir/store`. */
function configText(dir: string, ai: string, more = "", gdb = haveGdb()): string {
  return `stateDir: ${dir}/state
collector: {paths: [${dir}/in], settleInterval: 200ms, rescanInterval: 1s, concurrency: 2}
storage: {local: {path: ${dir}/store}, maxPerGroup: 0}
analyzer: {useGdb: ${gdb}, valueThreshold: 5}
kata: {enabled: false}
node: {collectors: []}
${ai}
${more}`;
}

function aiSection(emu: ModelApiEmulator, extra = ""): string {
  return `ai:
  enabled: true
  endpoint: ${emu.url}/v1
  model: gpt-emulated
  prices: ["gpt-emulated=2/8"]
${extra}`;
}

async function start(dir: string, config: string, env: Record<string, string> = {}) {
  await Deno.mkdir(`${dir}/in`, { recursive: true });
  await Deno.writeTextFile(`${dir}/agent.yaml`, config);
  return await startDaemon({
    dir,
    configFile: `${dir}/agent.yaml`,
    env: { AGENT_AI_API_KEY: KEY, ...env },
  });
}

async function cores(daemon: TestDaemon, query = "limit=1000"): Promise<Core[]> {
  return await (await fetch(`${daemon.base}/cores?${query}`)).json();
}

Deno.test({
  name: "the daemon explains 50 cores of one bug with one request, each with its .ai.json",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const emu = await ModelApiEmulator.start({ key: KEY });
      let daemon: TestDaemon | undefined;
      try {
        // Notes only: 50 runs of gdb would only make the test slow.
        daemon = await start(dir, configText(dir, aiSection(emu), "", false));
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            Deno.copyFile(segv.core, `${dir}/in/core.${1000 + i}`)),
        );
        let listed: Core[] = [];
        await waitFor(
          async () => {
            listed = await cores(daemon!, "state=stored&limit=1000");
            return listed.length === 50 &&
              listed.every((c) =>
                c.ai?.state === "explained" || c.ai?.state === "cached"
              );
          },
          "50 stored cores, each explained",
          180_000,
        );
        assertEquals(emu.requests.length, 1);
        const states = listed.map((c) => c.ai!.state);
        assertEquals(states.filter((s) => s === "explained").length, 1);
        assertEquals(states.filter((s) => s === "cached").length, 49);
        assertEquals(new Set(listed.map((c) => c.fingerprint)).size, 1);
        for (const core of listed) {
          assertStringIncludes(core.ai!.result!.summary, "null pointer");
          const beside = JSON.parse(
            await Deno.readTextFile(`${dir}/store/${core.storedKey}.ai.json`),
          );
          assertEquals(beside.core, core.storedKey);
          assertEquals(beside.result, core.ai!.result);
          assertEquals(beside.fingerprint, core.fingerprint);
        }
        // A browser's /cores shows each core's summary.
        const page = await (await fetch(`${daemon.base}/cores?limit=1000`, {
          headers: { accept: "text/html" },
        })).text();
        assertStringIncludes(page, ">AI summary</th>");
        const summary = listed[0]!.ai!.result!.summary.replaceAll("&", "&amp;")
          .replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;")
          .replaceAll("'", "&#39;");
        assertEquals(page.split(summary).length - 1, 50, page);
        assertEquals(page.split("(cached)").length - 1, 49);
        const metrics = await (await fetch(`${daemon.base}/metrics`)).text();
        for (
          const line of [
            'agent_ai_requests_total{outcome="ok"} 1',
            'agent_ai_explanations_total{status="explained"} 1',
            'agent_ai_explanations_total{status="cached"} 49',
            'agent_ai_skips_total{reason="monthly_budget"} 0',
            'agent_feature_up{feature="ai"} 1',
            "agent_ai_month_cost_limit 10",
            "agent_ai_cores_queued 0",
          ]
        ) assertStringIncludes(metrics, line);
        const usage = emu.usage();
        assertStringIncludes(metrics, `agent_ai_tokens_total{direction="input"} ${usage.input}`);
        if (!noPromtool) assertEquals((await promtoolCheck(metrics)).defects, []);
        const log = await daemon.stop();
        daemon = undefined;
        assert(!log.includes(KEY), "the API key is in the log");
        assertStringIncludes(log, '"msg":"AI crash analysis on"');
      } finally {
        await daemon?.stop().catch(() => {});
        await emu.stop();
      }
    }),
});

/** What must be the same whatever the AI stage does: the pipeline's decisions and objects. */
function pipelineView(core: Core) {
  return {
    state: core.state,
    score: core.score,
    signal: core.signal,
    crashReason: core.crashReason,
    fingerprint: core.fingerprint,
    storedBytes: core.storedBytes,
    sha256: core.sha256,
    reason: core.reason,
    originalDeleted: core.originalDeleted,
  };
}

/** How the AI stage is set up in one run. */
type Mode = "off" | "on" | "failing" | "misconfigured";

/**
 * Runs a daemon in `run` over copies of `sources` until every core is settled and `ready`
 * holds for the listing; checks it with `check`; returns the pipeline's view by core file name.
 */
async function pipelineRun(
  run: string,
  config: string,
  sources: readonly { core: string }[],
  ready: (listed: Core[]) => boolean,
  check: (daemon: TestDaemon, listed: Core[]) => Promise<void>,
): Promise<Record<string, ReturnType<typeof pipelineView>>> {
  const daemon = await start(run, config);
  try {
    for (const [i, source] of sources.entries()) {
      await Deno.copyFile(source.core, `${run}/in/core.${2000 + i}`);
    }
    let listed: Core[] = [];
    await waitFor(
      async () => {
        listed = await cores(daemon);
        return listed.length === sources.length &&
          listed.every((c) => ["stored", "skipped"].includes(c.state) && c.originalDeleted) &&
          ready(listed);
      },
      `the cores settled in ${run}`,
      120_000,
    );
    await check(daemon, listed);
    // The .ai.json files are those of the explanations.
    assertEquals(
      filesUnder(`${run}/store`).filter((f) => f.endsWith(".ai.json")).sort(),
      listed.filter((c) => c.ai?.state === "explained" || c.ai?.state === "cached")
        .map((c) => `${c.storedKey}.ai.json`).sort(),
    );
    return Object.fromEntries(listed.map((c) => [c.path.split("/").at(-1)!, pipelineView(c)]));
  } finally {
    await daemon.stop();
  }
}

Deno.test({
  name:
    "the daemon stores cores the same with the AI stage off, on, failing or misconfigured, sending no secret",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const samples = await sampleCores();
      const canary = `CANARY${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
      const secret = await crash("canary", dir, [`--token=${canary}`], undefined, {
        env: { AGENT_CANARY: canary },
      });
      const sources = [samples.segv, samples.abort, samples.fpe, samples.threads, secret];
      const emu = await ModelApiEmulator.start({ key: KEY });
      const runs: Partial<Record<Mode, Record<string, ReturnType<typeof pipelineView>>>> = {};
      const ai: Record<Mode, string> = {
        off: "",
        on: aiSection(emu),
        failing: aiSection(emu),
        // Enabled without the settings it needs: the stage is off, the rest runs the same.
        misconfigured: "ai: {enabled: true, endpoint: http://127.0.0.1:9/v1, model: no-price}",
      };
      const explained = (c: Core) => ["explained", "cached"].includes(c.ai?.state ?? "");
      try {
        for (const mode of ["off", "on", "failing", "misconfigured"] as const) {
          const run = `${dir}/${mode}`;
          emu.always(mode === "failing" ? { kind: "status", status: 500 } : undefined);
          const before = emu.requests.length;
          runs[mode] = await pipelineRun(
            run,
            configText(run, ai[mode]),
            sources,
            (listed) =>
              mode === "on"
                ? listed.every((c) => c.state !== "stored" || explained(c))
                : mode === "failing"
                ? listed.some((c) => c.ai?.state === "failed")
                : true,
            async (daemon, listed) => {
              const metrics = await (await fetch(`${daemon.base}/metrics`)).text();
              if (mode === "failing") {
                const failed = listed.find((c) => c.ai?.state === "failed")!;
                assertStringIncludes(failed.ai!.reason!, "failed 4 times, last: 500");
              }
              if (mode === "off" || mode === "misconfigured") {
                assertEquals(listed.map((c) => c.ai), listed.map(() => null));
                assertEquals(emu.requests.length, before);
              } else assert(emu.requests.length > before, `no request with the AI stage ${mode}`);
              if (mode === "off") assert(!metrics.includes("agent_ai_"), "AI metrics while off");
              if (mode === "misconfigured") {
                assertStringIncludes(metrics, 'agent_feature_up{feature="ai"} 0');
              }
            },
          );
        }
        assertEquals(Object.keys(runs.off!).length, sources.length);
        assert(Object.values(runs.off!).some((c) => c.state === "stored"));
        for (const mode of ["on", "failing", "misconfigured"] as const) {
          assertEquals(runs[mode], runs.off, `the pipeline with the AI stage ${mode}`);
        }
        for (const request of emu.requests) {
          assert(!request.body.includes(canary), "a request holds the canary");
          assert(!request.body.includes(canary.slice(0, 14)), "a request holds part of the canary");
        }
        assert(
          emu.requests.some((r) => r.body.includes("handle")),
          "the canary core was explained",
        );
      } finally {
        await emu.stop();
      }
    }),
});

kubeServers({ ignore: noGcc, emulator: { bookmarkIntervalMs: 200 } }).test(
  "the daemon adds the explanation to the CoreDumped Event, with the pod's image in the prompt",
  (kube) =>
    withTempDir(async (dir) => {
      const { segv } = await sampleCores();
      const emu = await ModelApiEmulator.start({ key: KEY });
      let daemon: TestDaemon | undefined;
      try {
        await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
        await installHelmRelease(kube, "prod");
        await kube.put(helmPod("prod", "prod-milvus-querynode-0"));
        const kubeconfig = await kube.writeKubeconfig(`${dir}/kubeconfig`);
        daemon = await start(
          dir,
          configText(dir, aiSection(emu), `discovery: {kubeconfig: ${kubeconfig}}`),
          { NODE_NAME: "node-1" },
        );
        await waitFor(async () => (await fetch(`${daemon!.base}/readyz`)).ok, "readiness");
        const time = Math.floor(Date.now() / 1000);
        await Deno.copyFile(
          segv.core,
          `${dir}/in/core.segv.4242.11.${time}.prod-milvus-querynode-0`,
        );
        let events: Json[] = [];
        await waitFor(
          async () => {
            events = (await kube.list("events", "milvus")).filter((e) => e.reason === "CoreDumped");
            return events.length === 1 && String(events[0]!.message).includes("AI (confidence");
          },
          "the CoreDumped Event with the explanation",
          60_000,
        );
        const message = String(events[0]!.message);
        assertStringIncludes(message, "stored as file://");
        assertStringIncludes(
          message,
          ". AI (confidence 0.78): The process read through a null pointer",
        );
        assertEquals(emu.requests.length, 1);
        const prompt = emu.requests[0]!.body;
        assertStringIncludes(
          prompt,
          "Instance: prod (Helm release), container main, image milvusdb/milvus:v2.4.0",
        );
      } finally {
        await daemon?.stop();
        await emu.stop();
      }
    }),
);

Deno.test({
  name: "a daemon stopped while the model answers explains the core after its restart",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const { abort } = await sampleCores();
      const emu = await ModelApiEmulator.start({ key: KEY });
      let daemon: TestDaemon | undefined;
      try {
        emu.always({ kind: "hang" });
        const config = configText(dir, aiSection(emu), "", false);
        daemon = await start(dir, config);
        await Deno.copyFile(abort.core, `${dir}/in/core.3000`);
        await waitFor(() => Promise.resolve(emu.requests.length === 1), "the request sent");
        assertEquals((await cores(daemon, "state=stored"))[0]?.ai?.state, "queued");
        await daemon.stop();
        daemon = undefined;
        // Stopped is not failed: the crash group is asked about at once after the restart.
        emu.always(undefined);
        daemon = await start(dir, config);
        let listed: Core[] = [];
        await waitFor(
          async () => {
            listed = await cores(daemon!, "state=stored");
            return listed[0]?.ai?.state === "explained";
          },
          "the core explained after the restart",
          60_000,
        );
        assertEquals(emu.requests.length, 2);
        assertStringIncludes(listed[0]!.ai!.result!.summary, "aborted");
      } finally {
        await daemon?.stop();
        await emu.stop();
      }
    }),
});
