/**
 * Where the real Kubernetes API server and etcd that `scripts/build_kube.ts` builds are kept:
 * the released versions the tests run, and one cache directory per version
 * (`${AGENT_KUBE_CACHE:-$HOME/.cache/agent-kube}/kube-apiserver-v1.37.2/`, `.../etcd-v3.7.3/`),
 * each holding its binaries and a `build.json` that says how long the build took.
 *
 * @module
 */

/** The Kubernetes release whose `kube-apiserver` the tests run. */
export const KUBERNETES_VERSION = "v1.37.2";
/** The etcd release the API server stores into (Kubernetes v1.37 is built against etcd 3.7). */
export const ETCD_VERSION = "v3.7.3";

/** What `build.json` in a version's directory records. */
export interface BuildRecord {
  version: string;
  goVersion: string;
  /** Wall-clock seconds of the build (download of the modules included). */
  seconds: number;
  builtAt: string;
}

/** The cache root: `$AGENT_KUBE_CACHE`, else `$HOME/.cache/agent-kube`. */
export function kubeCacheRoot(): string {
  const set = Deno.env.get("AGENT_KUBE_CACHE");
  if (set) return set;
  return `${Deno.env.get("HOME") ?? "/tmp"}/.cache/agent-kube`;
}

/** The directory of one built program at one version. */
export function versionDir(program: "kube-apiserver" | "etcd", version: string): string {
  return `${kubeCacheRoot()}/${program}-${version}`;
}

/** The paths of the three binaries the harness runs. */
export interface KubeBinaries {
  kubeApiserver: string;
  etcd: string;
  etcdctl: string;
}

/** The binaries' paths at the pinned versions, whether or not they exist. */
export function binaryPaths(): KubeBinaries {
  const kube = versionDir("kube-apiserver", KUBERNETES_VERSION);
  const etcd = versionDir("etcd", ETCD_VERSION);
  return {
    kubeApiserver: `${kube}/kube-apiserver`,
    etcd: `${etcd}/etcd`,
    etcdctl: `${etcd}/etcdctl`,
  };
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o755) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The binaries when all three are built, else why not (the missing paths and the command that
 * builds them).
 */
export function builtBinaries(): KubeBinaries | { missing: string } {
  const paths = binaryPaths();
  const missing = Object.values(paths).filter((p) => !isExecutable(p));
  if (missing.length === 0) return paths;
  return {
    missing: `not built: ${missing.join(", ")} (run: deno run -A scripts/build_kube.ts)`,
  };
}
