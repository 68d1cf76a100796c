import { assertEquals, withTempDir } from "../tests/support/assert.ts";
import { findKubeSource } from "./kube_source.ts";

Deno.test("findKubeSource() finds nothing without a kubeconfig or a service account", () =>
  withTempDir(async (dir) => {
    const env = (name: string) => ({ HOME: dir, KUBERNETES_SERVICE_HOST: "10.0.0.1" })[name];
    assertEquals(await findKubeSource({ env, serviceAccountDir: dir }), undefined);
  }));

Deno.test("findKubeSource() prefers --kubeconfig, then KUBECONFIG, then the service account", () =>
  withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/token`, "t");
    const vars: Record<string, string> = {
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
      KUBECONFIG: "a::b",
    };
    const env = (name: string) => vars[name];
    assertEquals(await findKubeSource({ env, serviceAccountDir: dir, kubeconfig: "c" }), {
      kind: "kubeconfig",
      files: ["c"],
      explicit: true,
    });
    assertEquals(await findKubeSource({ env, serviceAccountDir: dir }), {
      kind: "kubeconfig",
      files: ["a", "b"],
      explicit: false,
    });
    delete vars.KUBECONFIG;
    assertEquals(await findKubeSource({ env, serviceAccountDir: dir }), {
      kind: "in-cluster",
      host: "10.0.0.1",
      port: "443",
      dir,
    });
  }));
