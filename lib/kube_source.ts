/**
 * Where a Kubernetes configuration comes from, as kubectl looks for it: `--kubeconfig`, else
 * the files in `KUBECONFIG`, else `~/.kube/config`, else the pod's service account
 * (in-cluster). Only the search, outside `lib/kube`: a daemon on a node without cluster access
 * finds there is none without loading the client.
 *
 * @module
 */

/** Options of {@linkcode findKubeSource}. */
export interface FindKubeSourceOptions {
  kubeconfig?: string;
  env?: (name: string) => string | undefined;
  /** Root of the service-account files; tests point it elsewhere. */
  serviceAccountDir?: string;
}

/** A configuration found: kubeconfig files, or the pod's service account. */
export type KubeSource =
  | { kind: "kubeconfig"; files: string[]; explicit: boolean }
  | { kind: "in-cluster"; host: string; port: string; dir: string };

/** What the callers say when {@linkcode findKubeSource} finds nothing. */
export const NO_KUBE_CONFIGURATION =
  "No Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod";

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Finds the configuration's source, without reading it; undefined when there is none.
 *
 * @example Usage
 * ```ts
 * const source = await findKubeSource({ kubeconfig: "/etc/agent/kubeconfig" });
 * ```
 */
export async function findKubeSource(
  options: FindKubeSourceOptions = {},
): Promise<KubeSource | undefined> {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  let files: string[] = [];
  if (options.kubeconfig) files = [options.kubeconfig];
  else if (env("KUBECONFIG")) files = env("KUBECONFIG")!.split(":").filter(Boolean);
  else if (env("HOME") && await exists(`${env("HOME")}/.kube/config`)) {
    files = [`${env("HOME")}/.kube/config`];
  }
  if (files.length > 0) return { kind: "kubeconfig", files, explicit: !!options.kubeconfig };
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT;
  const host = env("KUBERNETES_SERVICE_HOST");
  if (host && await exists(`${dir}/token`)) {
    return { kind: "in-cluster", host, port: env("KUBERNETES_SERVICE_PORT") ?? "443", dir };
  }
  return undefined;
}
