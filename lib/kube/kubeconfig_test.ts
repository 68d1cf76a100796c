import { ConfigError, UnavailableError } from "../errors.ts";
import { assertEquals, assertRejects, withTempDir } from "../../tests/support/assert.ts";
import { loadKubeTarget } from "./kubeconfig.ts";

const none = () => undefined;

function kubeconfig(user: string, server = "http://127.0.0.1:1"): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    `clusters: [{name: c, cluster: {server: "${server}"}}]`,
    `users: [{name: u, user: ${user}}]`,
    "contexts: [{name: ctx, context: {cluster: c, user: u, namespace: milvus}}, {name: other, context: {cluster: c, user: u}}]",
    "current-context: ctx",
  ].join("\n");
}

Deno.test("loadKubeTarget() reads the in-cluster service account, token re-read per request", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/token`, "first\n");
    await Deno.writeTextFile(`${dir}/namespace`, "agent-system");
    const env = (name: string) =>
      ({ KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" })[name];
    const target = await loadKubeTarget({ env, serviceAccountDir: dir });
    assertEquals([target.server, target.namespace, target.source], [
      "https://10.0.0.1:443",
      "agent-system",
      "in-cluster service account",
    ]);
    assertEquals(await target.headers(), { authorization: "Bearer first" });
    await Deno.writeTextFile(`${dir}/token`, "rotated");
    assertEquals(await target.headers(), { authorization: "Bearer rotated" });
  }));

Deno.test("loadKubeTarget() picks the context and its namespace, and merges KUBECONFIG files", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a`, kubeconfig("{token: abc}"));
    const target = await loadKubeTarget({ kubeconfig: `${dir}/a` });
    assertEquals([target.namespace, await target.headers()], ["milvus", {
      authorization: "Bearer abc",
    }]);
    const other = await loadKubeTarget({ kubeconfig: `${dir}/a`, context: "other" });
    assertEquals(other.namespace, "default");
    const merged = await loadKubeTarget({
      env: (n) => (n === "KUBECONFIG" ? `${dir}/missing:${dir}/a` : undefined),
    });
    assertEquals(merged.source, `${dir}/missing:${dir}/a (context "ctx")`);
  }));

Deno.test("loadKubeTarget() runs exec credential plugins and caches their token", () =>
  withTempDir(async (dir) => {
    const plugin = `${dir}/plugin`;
    await Deno.writeTextFile(
      plugin,
      `#!/bin/sh\necho run >> ${dir}/runs\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-plugin","expirationTimestamp":"2999-01-01T00:00:00Z"}}'\n`,
      { mode: 0o755 },
    );
    await Deno.writeTextFile(
      `${dir}/kc`,
      kubeconfig(`{exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}}}`),
    );
    const target = await loadKubeTarget({ kubeconfig: `${dir}/kc` });
    assertEquals(await target.headers(), { authorization: "Bearer from-plugin" });
    assertEquals(await target.headers(), { authorization: "Bearer from-plugin" });
    assertEquals((await Deno.readTextFile(`${dir}/runs`)).trim().split("\n").length, 1);
    await Deno.writeTextFile(
      plugin,
      "#!/bin/sh\necho 'token expired: run aws sso login' >&2\nexit 1\n",
    );
    const failing = await loadKubeTarget({ kubeconfig: `${dir}/kc` });
    await assertRejects(
      () => failing.headers(),
      UnavailableError,
      "failed: token expired: run aws sso login",
    );
  }));

Deno.test("loadKubeTarget() explains what is wrong with a kubeconfig", () =>
  withTempDir(async (dir) => {
    await assertRejects(
      () => loadKubeTarget({ env: none }),
      UnavailableError,
      "No Kubernetes configuration",
    );
    await Deno.writeTextFile(`${dir}/bad`, "clusters: [");
    await assertRejects(
      () => loadKubeTarget({ kubeconfig: `${dir}/bad` }),
      ConfigError,
      `Invalid kubeconfig "${dir}/bad"`,
    );
    const cluster = async (extra: string) => {
      await Deno.writeTextFile(
        `${dir}/cluster`,
        kubeconfig("{token: t}", "https://10.0.0.1:6443").replace(
          `server: "https://10.0.0.1:6443"`,
          `server: "https://10.0.0.1:6443", ${extra}`,
        ),
      );
      return `${dir}/cluster`;
    };
    const insecure = await loadKubeTarget({
      kubeconfig: await cluster("insecure-skip-tls-verify: true"),
    });
    assertEquals(insecure.warnings, [
      `Kubeconfig context "ctx": insecure-skip-tls-verify is set, so the API server's certificate is not verified`,
    ]);
    await assertRejects(
      async () =>
        loadKubeTarget({
          kubeconfig: await cluster(
            `insecure-skip-tls-verify: true, certificate-authority-data: ${btoa("PEM")}`,
          ),
        }),
      ConfigError,
      `Kubeconfig context "ctx": certificate-authority and insecure-skip-tls-verify are both set; keep one (kubectl refuses both too)`,
    );
    for (
      const [proxy, reason] of [
        ["socks5://127.0.0.1:1080", "; SOCKS proxies are not supported"],
        ["127.0.0.1:3128", ""],
        ["http://user:secret@", ""],
      ]
    ) {
      await assertRejects(
        async () => loadKubeTarget({ kubeconfig: await cluster(`proxy-url: "${proxy}"`) }),
        ConfigError,
        `: expected http://HOST:PORT or https://HOST:PORT${reason}`,
      );
    }
    const proxied = await loadKubeTarget({
      kubeconfig: await cluster(`proxy-url: "http://127.0.0.1:3128", tls-server-name: api.local`),
    });
    assertEquals(proxied.warnings, []);
    await assertRejects(
      () => loadKubeTarget({ kubeconfig: `${dir}/missing` }),
      ConfigError,
      `Cannot read kubeconfig "${dir}/missing"`,
    );
  }));
