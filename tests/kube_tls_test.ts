/**
 * Reaching the API server as kubectl does over HTTPS: an untrusted certificate is refused
 * unless the kubeconfig says `insecure-skip-tls-verify` (then with a warning), the
 * certificate is checked against `tls-server-name` when one is given, and `proxy-url` sends
 * every request through a real proxy (tinyproxy). Against the emulator serving HTTPS; the
 * real kubectl, where installed, accepts and refuses the same kubeconfigs.
 */
import { assert, assertEquals, assertMatch, withTempDir } from "./support/assert.ts";
import { json, runAgent } from "./support/cli.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { helmPod, makeTls } from "./support/kube/fixtures.ts";
import { proxyMissing, startProxy } from "./support/proxy.ts";
import type { MilvusInstance } from "../lib/kube/mod.ts";

const noOpenssl = skipNotice("openssl", haveCommand("openssl"));
const noProxy = skipNotice("tinyproxy", proxyMissing() === undefined);
const haveKubectl = haveCommand("kubectl");

/** Runs `fn` with an emulator serving HTTPS with a certificate for `san`, holding one release. */
async function withHttpsCluster(
  san: string,
  fn: (emu: KubeEmulator, dir: string, ca: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const tls = await makeTls(dir, san);
    const emu = await KubeEmulator.start({ tls });
    try {
      emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
      emu.put(helmPod("prod", "prod-milvus-querynode-0"));
      await fn(emu, dir, tls.ca);
    } finally {
      await emu.close();
    }
  });
}

/** Writes a kubeconfig whose cluster has `fields` besides its server. */
async function kubeconfig(path: string, server: string, fields: string[]): Promise<string> {
  await Deno.writeTextFile(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: emulator",
      "  cluster:",
      `    server: ${server}`,
      ...fields.map((field) => `    ${field}`),
      "users: [{name: tester, user: {token: emulator-token}}]",
      "contexts: [{name: emulator, context: {cluster: emulator, user: tester, namespace: milvus}}]",
      "current-context: emulator",
      "",
    ].join("\n"),
  );
  return path;
}

/** `agent discover -o json` with `config`: the exit code, the instances' names, stderr. */
async function discover(config: string) {
  const run = await runAgent(["discover", "-o", "json", "--kubeconfig", config]);
  return {
    code: run.code,
    names: run.code === 0 ? json<MilvusInstance[]>(run).map((i) => i.name) : [],
    stderr: run.stderr,
  };
}

/** Whether the real kubectl lists the release's pod with `config` (true when not installed). */
async function kubectlAgrees(config: string, works: boolean): Promise<boolean> {
  if (!haveKubectl) return true;
  const out = await new Deno.Command("kubectl", {
    args: ["--kubeconfig", config, "get", "pods", "-o", "name", "--request-timeout=20s"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const listed = new TextDecoder().decode(out.stdout).includes("pod/prod-milvus-querynode-0");
  return works ? out.success && listed : !out.success;
}

const tlsError = (url: string) =>
  new RegExp(`^Cannot reach the Kubernetes API at ${url}: TLS error \\(.*\\)\\n$`);

Deno.test({
  name:
    "an untrusted certificate is refused, and accepted with insecure-skip-tls-verify and a warning",
  ignore: noOpenssl,
  fn: () =>
    withHttpsCluster("IP:127.0.0.1", async (emu, dir) => {
      const untrusted = await kubeconfig(`${dir}/untrusted`, emu.url, []);
      const refused = await discover(untrusted);
      assertEquals(refused.code, 3);
      assertMatch(refused.stderr, tlsError(emu.url));
      assert(await kubectlAgrees(untrusted, false), "kubectl accepts an untrusted certificate");

      const insecure = await kubeconfig(`${dir}/insecure`, emu.url, [
        "insecure-skip-tls-verify: true",
      ]);
      assertEquals(await discover(insecure), {
        code: 0,
        names: ["prod"],
        stderr:
          `warn: Kubeconfig context "emulator": insecure-skip-tls-verify is set, so the API server's certificate is not verified\n`,
      });
      assert(await kubectlAgrees(insecure, true), "kubectl refuses insecure-skip-tls-verify");
    }),
});

Deno.test({
  name: "tls-server-name: the certificate is checked against that name, not the server's address",
  ignore: noOpenssl,
  fn: () =>
    withHttpsCluster("DNS:kubernetes.default.svc", async (emu, dir, ca) => {
      const authority = `certificate-authority-data: ${btoa(ca)}`;
      const byAddress = await kubeconfig(`${dir}/by-address`, emu.url, [authority]);
      const refused = await discover(byAddress);
      assertEquals(refused.code, 3);
      assertMatch(refused.stderr, tlsError(emu.url));
      assert(await kubectlAgrees(byAddress, false), "kubectl accepts another name's certificate");

      const byName = await kubeconfig(`${dir}/by-name`, emu.url, [
        authority,
        "tls-server-name: kubernetes.default.svc",
      ]);
      assertEquals(await discover(byName), { code: 0, names: ["prod"], stderr: "" });
      assert(await kubectlAgrees(byName, true), "kubectl refuses tls-server-name");
    }),
});

Deno.test({
  name: "proxy-url: every request goes through the proxy, with any of the TLS settings",
  ignore: noOpenssl || noProxy,
  fn: () =>
    withHttpsCluster("DNS:kubernetes.default.svc", async (emu, dir, ca) => {
      const proxy = await startProxy();
      try {
        const port = new URL(emu.url).port;
        const tunnel = `CONNECT 127.0.0.1:${port} HTTP/1.1`;
        const cases: [string, string[]][] = [
          // Deno's fetch with a proxy, and the node:https tunnel for what only it can do.
          ["trusted", [
            `certificate-authority-data: ${btoa(ca)}`,
            "tls-server-name: kubernetes.default.svc",
          ]],
          ["insecure", ["insecure-skip-tls-verify: true"]],
        ];
        for (const [name, fields] of cases) {
          const before = (await proxy.requests()).filter((r) => r === tunnel).length;
          const config = await kubeconfig(`${dir}/${name}`, emu.url, [
            ...fields,
            `proxy-url: ${proxy.url}`,
          ]);
          const run = await discover(config);
          assertEquals([run.code, run.names], [0, ["prod"]], `${name}: ${run.stderr}`);
          const after = (await proxy.requests()).filter((r) => r === tunnel).length;
          assert(after > before, `${name}: the proxy saw no ${tunnel}`);
          assert(await kubectlAgrees(config, true), `${name}: kubectl refuses the kubeconfig`);
        }
        // A proxy that is not there is the API being unreachable, as for kubectl.
        const gone = await kubeconfig(`${dir}/gone`, emu.url, [
          "insecure-skip-tls-verify: true",
          "proxy-url: http://127.0.0.1:1",
        ]);
        const unreachable = await discover(gone);
        assertEquals(unreachable.code, 3, unreachable.stderr);
        assertMatch(
          unreachable.stderr,
          new RegExp(`Cannot reach the Kubernetes API at ${emu.url}: connection refused\\n$`),
        );
      } finally {
        await proxy.close();
      }
    }),
});
