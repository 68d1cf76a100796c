/**
 * The monitoring bundle (`manifests/monitoring/`) against the real programs it is for: kustomize
 * renders it, promtool checks the rules and runs their unit tests (every alert fires in one case
 * and stays quiet in another), the PrometheusRule holds the same groups as the rule file, the
 * plain scrape job is a valid Prometheus job, a real Alertmanager routes and inhibits as the
 * example says, and every query of every Grafana dashboard returns data from a real Prometheus
 * scraping the daemon (over this host's collectors, a stand-in nvidia-smi replaying an A100
 * node, a Kata sandbox, a Milvus pod that crashes and a core it stores).
 */
import { parse as parseYaml, parseAllDocuments } from "yaml";
import { assert, assertEquals, withTempDir } from "./support/assert.ts";
import { haveCommand, haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { startDaemon, type TestDaemon } from "./support/daemon.ts";
import { fakeCri, sandbox } from "./support/fake_cri.ts";
import { startFakeShim, withSocketDir } from "./support/fake_shim.ts";
import { renderShimMetrics } from "./support/kata_metrics.ts";
import { helmPod, installHelmRelease } from "./support/kube/fixtures.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { waitFor } from "./support/net.ts";
import { query, startAlertmanager, startPrometheus } from "./support/prometheus.ts";

const BUNDLE = new URL("../manifests/monitoring/", import.meta.url).pathname;
const noKubectl = skipNotice("kubectl", haveCommand("kubectl"));
const noPromtool = skipNotice("promtool (Debian package prometheus)", haveCommand("promtool"));
const noPrometheus = skipNotice("prometheus (Debian package)", haveCommand("prometheus"));
const noAlertmanager = skipNotice(
  "prometheus-alertmanager and amtool (Debian package prometheus-alertmanager)",
  haveCommand("prometheus-alertmanager") && haveCommand("amtool"),
);
const noGcc = skipNotice("gcc", haveGcc());

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
interface Group {
  name: string;
  rules: Rule[];
}

async function tool(command: string, args: string[], cwd = BUNDLE) {
  const out = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    text: decoder.decode(out.stdout) + decoder.decode(out.stderr),
  };
}

const ruleFile = parseYaml(await Deno.readTextFile(`${BUNDLE}rules/agent.rules.yaml`)) as {
  groups: Group[];
};
const alerts = ruleFile.groups.flatMap((g) => g.rules.map((r) => r.alert!));

Deno.test({
  name: "kubectl kustomize renders the bundle and its ServiceMonitor variant",
  ignore: noKubectl,
  fn: async () => {
    const kinds = async (dir: string) => {
      const out = await tool("kubectl", ["kustomize", dir]);
      assertEquals(out.code, 0, out.text);
      return parseAllDocuments(out.text).map((d) => d.toJSON()).map((o) =>
        `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`
      );
    };
    assertEquals((await kinds(".")).sort(), [
      "ConfigMap/agent-system/agent-dashboards",
      "PodMonitor/agent-system/agent",
      "PrometheusRule/agent-system/agent",
    ]);
    assertEquals((await kinds("servicemonitor")).sort(), [
      "Service/agent-system/agent",
      "ServiceMonitor/agent-system/agent",
    ]);
  },
});

Deno.test({
  name: "the alert rules pass promtool check rules and their unit tests",
  ignore: noPromtool,
  fn: async () => {
    const check = await tool("promtool", ["check", "rules", "rules/agent.rules.yaml"]);
    assertEquals(check.code, 0, check.text);
    assert(!/WARNING/i.test(check.text), check.text);
    const tests = await tool(
      "promtool",
      ["test", "rules", "agent.rules.test.yaml"],
      `${BUNDLE}rules`,
    );
    assertEquals(tests.code, 0, tests.text);
    assert(tests.text.includes("SUCCESS"), tests.text);
  },
});

Deno.test("every alert has a unit test where it fires and one where it does not", async () => {
  const tests = parseYaml(await Deno.readTextFile(`${BUNDLE}rules/agent.rules.test.yaml`)) as {
    tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
  for (const alert of alerts) {
    const mine = cases.filter((c) => c.alertname === alert);
    assert(mine.some((c) => c.exp_alerts.length > 0), `${alert} never fires in a test`);
    assert(mine.some((c) => c.exp_alerts.length === 0), `${alert} always fires in its tests`);
  }
  assertEquals(new Set(cases.map((c) => c.alertname)), new Set(alerts), "no test of a rule gone");
});

Deno.test("the PrometheusRule holds the rule file's groups", async () => {
  const rule = parseYaml(await Deno.readTextFile(`${BUNDLE}prometheusrule.yaml`));
  assertEquals(rule.spec.groups, ruleFile.groups);
});

Deno.test({
  name: "the plain scrape job is a valid Prometheus job with the rule file",
  ignore: noPromtool,
  fn: async () => {
    await withTempDir(async (dir) => {
      const jobs = parseYaml(await Deno.readTextFile(`${BUNDLE}scrape-config.yaml`));
      assertEquals(jobs.map((j: { job_name: string }) => j.job_name), ["agent"]);
      // Debian's Prometheus is built without Kubernetes service discovery: the job is checked
      // with a static target in its place, everything else (relabelling, labels) as written.
      assert(jobs[0].kubernetes_sd_configs, "the job finds pods through Kubernetes");
      delete jobs[0].kubernetes_sd_configs;
      jobs[0].static_configs = [{ targets: ["127.0.0.1:8090"] }];
      await Deno.writeTextFile(
        `${dir}/prometheus.yml`,
        JSON.stringify({
          rule_files: [`${BUNDLE}rules/agent.rules.yaml`],
          scrape_configs: jobs,
        }),
      );
      const check = await tool("promtool", ["check", "config", `${dir}/prometheus.yml`]);
      assertEquals(check.code, 0, check.text);
    });
  },
});

Deno.test({
  name: "the Alertmanager example routes by severity and lets a crash loop mute its symptoms",
  ignore: noAlertmanager,
  fn: async () => {
    const config = `${BUNDLE}alertmanager/alertmanager.yaml`;
    const check = await tool("amtool", ["check-config", config]);
    assertEquals(check.code, 0, check.text);
    for (
      const [severity, receiver] of [["critical", "pager"], ["warning", "team"], [
        "info",
        "blackhole",
      ]]
    ) {
      const route = await tool("amtool", [
        "config",
        "routes",
        "test",
        `--config.file=${config}`,
        `severity=${severity}`,
      ]);
      assertEquals(
        route.text.split("\n").filter((l) => !l.startsWith("Warning")).join("").trim(),
        receiver,
      );
    }
    await withTempDir(async (dir) => {
      const am = await startAlertmanager(dir, config);
      try {
        const alert = (labels: Record<string, string>) => ({
          labels,
          startsAt: new Date().toISOString(),
        });
        const posted = await fetch(`${am.base}/api/v2/alerts`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify([
            alert({
              alertname: "MilvusCrashLoop",
              severity: "critical",
              namespace: "milvus",
              instance: "prod",
            }),
            alert({
              alertname: "MilvusCoreStorm",
              severity: "warning",
              namespace: "milvus",
              instance: "prod",
              group: "3f2a",
            }),
            alert({
              alertname: "AgentAnomaly",
              severity: "info",
              namespace: "milvus",
              instance: "prod",
              series: "pod_restarts_per_hour",
            }),
            alert({
              alertname: "MilvusCoreStorm",
              severity: "warning",
              namespace: "milvus",
              instance: "dev",
              group: "77b1",
            }),
          ]),
        });
        assertEquals(posted.status, 200, await posted.text());
        type Status = {
          labels: Record<string, string>;
          status: { state: string; inhibitedBy: string[] };
        };
        let states: string[] = [];
        await waitFor(async () => {
          const listed: Status[] = await (await fetch(`${am.base}/api/v2/alerts`)).json();
          states = listed.map((a) =>
            `${a.labels.alertname} ${a.labels.instance}: ${a.status.state}${
              a.status.inhibitedBy.length ? " (inhibited)" : ""
            }`
          ).sort();
          return states.length === 4;
        }, "the alerts listed");
        assertEquals(states, [
          "AgentAnomaly prod: suppressed (inhibited)",
          "MilvusCoreStorm dev: active",
          "MilvusCoreStorm prod: suppressed (inhibited)",
          "MilvusCrashLoop prod: active",
        ]);
      } finally {
        await am.stop();
      }
    });
  },
});

interface Target {
  expr: string;
  refId: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { uid: string };
  targets: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
}

const DASHBOARDS = ["agent-crashes", "agent-kata", "agent-node", "agent-anomalies"];

async function dashboards(): Promise<Dashboard[]> {
  return await Promise.all(
    DASHBOARDS.map(async (name) =>
      JSON.parse(await Deno.readTextFile(`${BUNDLE}dashboards/${name}.json`)) as Dashboard
    ),
  );
}

Deno.test("the dashboards are well formed: ids, grid, the data source variable, a query per target", async () => {
  const uids = new Set<string>();
  for (const dashboard of await dashboards()) {
    assert(!uids.has(dashboard.uid), dashboard.uid);
    uids.add(dashboard.uid);
    assert(
      dashboard.templating.list.some((v) => v.name === "datasource" && v.type === "datasource"),
    );
    const ids = dashboard.panels.map((p) => p.id);
    assertEquals(new Set(ids).size, ids.length, `${dashboard.uid}: panel ids are unique`);
    for (const panel of dashboard.panels) {
      const where = `${dashboard.uid}: ${panel.title}`;
      assertEquals(panel.datasource.uid, "${datasource}", where);
      assert(panel.gridPos.x + panel.gridPos.w <= 24 && panel.gridPos.h > 0, where);
      assert(panel.targets.length > 0, where);
      for (const target of panel.targets) assert(target.expr.trim() !== "" && target.refId, where);
    }
  }
});

/** A stand-in `nvidia-smi` replaying an A100 node (see tests/support/bin/nvidia-smi). */
const BIN = new URL("./support/bin", import.meta.url).pathname;
const A100 = new URL("../lib/node/testdata/nvidia-smi/a100", import.meta.url).pathname;

/** A dashboard's query as Grafana sends it, its variables at "All". */
function resolve(expr: string): string {
  return expr.replaceAll("$__rate_interval", "10s").replace(
    /\$\{?(node|namespace|instance)\}?/g,
    ".*",
  );
}

Deno.test({
  name: "every dashboard query returns data from a real Prometheus scraping the daemon",
  ignore: noPrometheus || noGcc,
  fn: () =>
    withTempDir((dir) =>
      withSocketDir(async (sockets) => {
        const { segv } = await sampleCores();
        const emu = await KubeEmulator.start({ bookmarkIntervalMs: 200 });
        let tick = 0;
        const shimId = "c".repeat(64);
        const shim = await startFakeShim(`${sockets}/v`, shimId, {
          mode: "ok",
          body: () => renderShimMetrics(shimId, tick++),
        });
        const cri = await fakeCri({ ListPodSandbox: () => ({ items: [sandbox(shimId)] }) });
        let daemon: TestDaemon | undefined;
        let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
        try {
          emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
          await installHelmRelease(emu, "prod");
          emu.put(helmPod("prod", "prod-milvus-querynode-0"));
          await Deno.mkdir(`${dir}/in`);
          daemon = await startDaemon({
            dir,
            config: `storage: {local: {path: ${dir}/store}}
kata: {sandboxRoots: [${sockets}/v], runtimeEndpoint: ${cri.socket}, metricsInterval: 1s, criSyncInterval: 200ms}
analyzer: {useGdb: false, valueThreshold: 1}
discovery: {kubeconfig: ${await emu.writeKubeconfig(`${dir}/kc`)}}
anomaly: {interval: 1s, forecastHorizon: 8s}
processWatch: {interval: 2s}`,
            env: {
              AGENT_COLLECTOR_PATHS: `${dir}/in`,
              AGENT_COLLECTOR_SETTLE_INTERVAL: "200ms",
              NODE_NAME: "node-1",
              PATH: `${BIN}:${Deno.env.get("PATH") ?? ""}`,
              NVIDIA_SMI_FIXTURE: A100,
            },
          });
          // Restarts before the pod watch's first listing are its starting point, not events:
          // the daemon is ready once the watch has synced.
          await waitFor(async () => (await fetch(`${daemon!.base}/readyz`)).ok, "readiness");
          // A Milvus pod that panics twice, and a core collected and stored.
          for (let count = 1; count <= 2; count++) {
            emu.put(helmPod("prod", "prod-milvus-querynode-0", {
              restarts: count,
              terminated: { reason: "Error", exitCode: 139, finishedAt: new Date().toISOString() },
            }));
          }
          await Deno.copyFile(segv.core, `${dir}/in/core.42`);
          await waitFor(
            async () => {
              const text = await (await fetch(`${daemon!.base}/metrics`)).text();
              return text.includes('agent_cores_total{outcome="stored"} 1') &&
                text.includes('panic="true"} 2');
            },
            "the core stored and the restarts counted",
            60_000,
          );
          await Deno.mkdir(`${dir}/prom`);
          prometheus = await startPrometheus(
            `${dir}/prom`,
            JSON.stringify({
              global: { scrape_interval: "1s", evaluation_interval: "1s" },
              rule_files: [`${BUNDLE}rules/agent.rules.yaml`],
              scrape_configs: [{
                job_name: "agent",
                honor_labels: true,
                static_configs: [{
                  targets: [new URL(daemon.base).host],
                  labels: { node: "node-1" },
                }],
              }],
            }),
          );
          const queries = (await dashboards()).flatMap((d) =>
            d.panels.flatMap((p) =>
              p.targets.map((t) => ({
                where: `${d.uid}: ${p.title} (${t.refId})`,
                expr: resolve(t.expr),
              }))
            )
          );
          const variables = (await dashboards()).flatMap((d) =>
            d.templating.list.filter((v) => v.type === "query").map((v) => ({
              where: `${d.uid}: variable ${v.name}`,
              query: typeof v.query === "string" ? v.query : v.query!.query,
            }))
          );
          let empty: string[] = [];
          await waitFor(
            async () => {
              empty = [];
              for (const { where, expr } of queries) {
                if ((await query(prometheus!, expr)).length === 0) empty.push(`${where}: ${expr}`);
              }
              for (const { where, query: q } of variables) {
                // label_values(SELECTOR, LABEL): the values of LABEL in the series of SELECTOR.
                const [, selector, label] = /^label_values\((.*), *(\w+)\)$/.exec(q)!;
                const values = await (await fetch(
                  `${prometheus!.base}/api/v1/label/${label}/values?match[]=${
                    encodeURIComponent(selector!)
                  }`,
                )).json();
                if (values.data.length === 0) empty.push(`${where}: ${q}`);
              }
              return empty.length === 0;
            },
            "every query answered",
            90_000,
          ).catch((error) => {
            throw new Error(`${(error as Error).message}; empty:\n${empty.join("\n")}`);
          });
          // Every alert rule is loaded and evaluates.
          const rules = await (await fetch(`${prometheus.base}/api/v1/rules`)).json();
          const loaded = rules.data.groups.flatMap((
            g: { rules: { name: string; health: string }[] },
          ) => g.rules);
          assertEquals(loaded.map((r: { name: string }) => r.name).sort(), [...alerts].sort());
        } finally {
          await prometheus?.stop();
          const log = await daemon?.stop();
          await shim.stop();
          await cri.close();
          await emu.close();
          if (log !== undefined) assert(!log.includes("uncaught error"), log);
        }
      })
    ),
});
