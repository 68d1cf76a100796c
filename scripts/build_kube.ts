/**
 * Builds the real Kubernetes API server and etcd that the real-server tests run, from their
 * published sources through the Go module proxy (no binary download can be reached here), with
 * the Go 1.26 on PATH:
 *
 * - `kube-apiserver` from `k8s.io/kubernetes` at {@linkcode KUBERNETES_VERSION}. Its `staging/`
 *   modules are not in the module zip, so a throwaway main module requires `k8s.io/kubernetes`
 *   and points each `k8s.io/...` replace at the matching published `v0.X.Y`; the version
 *   variables are set as Kubernetes' own build sets them.
 * - `etcd` and `etcdctl` from `go.etcd.io/etcd/{server,etcdctl}/v3` at
 *   {@linkcode ETCD_VERSION}.
 *
 * Each lands in its version's cache directory (see `tests/support/kube_real/binaries.ts`) with a
 * `build.json` recording the build time; a directory already holding its binaries is reused.
 * The compiler runs under `nice -n 10`. `--force` rebuilds. Exit code 0 when both are built,
 * 1 when a build failed (the failing command and its output are printed).
 *
 * Usage: `deno run -A scripts/build_kube.ts [--force]`
 *
 * @module
 */
// deno-lint-ignore-file no-console
import {
  type BuildRecord,
  ETCD_VERSION,
  kubeCacheRoot,
  KUBERNETES_VERSION,
  versionDir,
} from "../tests/support/kube_real/binaries.ts";

const force = Deno.args.includes("--force");

class BuildFailed extends Error {}

/** Runs `nice -n 10 go ARGS` in `cwd`, its output passed through; throws when it fails. */
async function go(cwd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const shown = args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(" ");
  console.log(`$ (cd ${cwd} && nice -n 10 go ${shown})`);
  const status = await new Deno.Command("nice", {
    args: ["-n", "10", "go", ...args],
    cwd,
    env: {
      CGO_ENABLED: "0",
      // The go.mod files ask for Go 1.26; never fetch another toolchain behind our back.
      GOTOOLCHAIN: "local",
      GOFLAGS: "-mod=mod -buildvcs=false",
      ...env,
    },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!status.success) {
    throw new BuildFailed(`"go ${args.join(" ")}" in ${cwd} exited with ${status.code}`);
  }
}

async function goOutput(args: string[], cwd = "/"): Promise<string> {
  const out = await new Deno.Command("go", { args, cwd, env: { GOTOOLCHAIN: "local" } }).output();
  if (!out.success) {
    throw new BuildFailed(`"go ${args.join(" ")}" failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim();
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The `k8s.io/...` modules that `k8s.io/kubernetes` takes from its own `staging/` tree. */
async function stagingModules(work: string): Promise<string[]> {
  const info = JSON.parse(
    await goOutput(["mod", "download", "-json", `k8s.io/kubernetes@${KUBERNETES_VERSION}`], work),
  ) as { GoMod?: string };
  if (!info.GoMod) throw new BuildFailed("go mod download gave no go.mod for k8s.io/kubernetes");
  const text = await Deno.readTextFile(info.GoMod);
  return [...text.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]!);
}

/**
 * Builds the programs into `dir` through a throwaway main module, unless `dir` holds them all.
 * `prepare` writes go.mod in the work directory; `programs` maps a binary to its package.
 */
async function build(
  name: string,
  version: string,
  dir: string,
  programs: Record<string, string>,
  prepare: (work: string) => Promise<void>,
  ldflags: string,
): Promise<void> {
  if (!force && Object.keys(programs).every((bin) => exists(`${dir}/${bin}`))) {
    console.log(`${name} ${version}: cached in ${dir}`);
    return;
  }
  const started = performance.now();
  const work = await Deno.makeTempDir({ prefix: `agent-build-${name}-` });
  try {
    await prepare(work);
    await go(work, ["get", ...Object.values(programs).map((pkg) => `${pkg}@${version}`)]);
    await Deno.mkdir(dir, { recursive: true });
    for (const [bin, pkg] of Object.entries(programs)) {
      const partial = `${dir}/.${bin}.partial`;
      await go(work, ["build", "-trimpath", `-ldflags=${ldflags}`, "-o", partial, pkg]);
      await Deno.rename(partial, `${dir}/${bin}`);
    }
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  const record: BuildRecord = {
    version,
    goVersion: await goOutput(["env", "GOVERSION"]),
    seconds: Math.round((performance.now() - started) / 1000),
    builtAt: new Date().toISOString(),
  };
  await Deno.writeTextFile(`${dir}/build.json`, JSON.stringify(record, null, 2) + "\n");
  console.log(`${name} ${version}: built in ${record.seconds} s into ${dir}`);
}

async function buildKubeApiserver(): Promise<void> {
  const [, major, minor, patch] = KUBERNETES_VERSION.match(/^v(\d+)\.(\d+)\.(\d+)$/)!;
  const staging = `v0.${minor}.${patch}`;
  const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  // What Kubernetes' hack/lib/version.sh sets, so the server reports its real version.
  const ldflags = ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((
    pkg,
  ) => [
    `-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
    `-X ${pkg}.buildDate=${now}`,
  ]).concat(["-s", "-w"]).join(" ");
  await build(
    "kube-apiserver",
    KUBERNETES_VERSION,
    versionDir("kube-apiserver", KUBERNETES_VERSION),
    { "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver" },
    async (work) => {
      await Deno.writeTextFile(`${work}/go.mod`, "module agent.local/build\n\ngo 1.26.0\n");
      const replaces = (await stagingModules(work)).map((m) => `\t${m} => ${m} ${staging}\n`);
      await Deno.writeTextFile(
        `${work}/go.mod`,
        `module agent.local/build\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes ${KUBERNETES_VERSION}\n\n` +
          `replace (\n${replaces.join("")})\n`,
      );
    },
    ldflags,
  );
}

async function buildEtcd(): Promise<void> {
  const ldflags = `-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}`;
  await build(
    "etcd",
    ETCD_VERSION,
    versionDir("etcd", ETCD_VERSION),
    { etcd: "go.etcd.io/etcd/server/v3", etcdctl: "go.etcd.io/etcd/etcdctl/v3" },
    async (work) => {
      await Deno.writeTextFile(`${work}/go.mod`, "module agent.local/build\n\ngo 1.26.0\n");
    },
    ldflags,
  );
}

async function main(): Promise<number> {
  const goVersion = await goOutput(["env", "GOVERSION"]).catch((e) => {
    console.error(`Cannot run go: ${e instanceof Error ? e.message : e}`);
    return "";
  });
  const [, goMinor] = goVersion.match(/^go1\.(\d+)/) ?? [];
  if (!goMinor || Number(goMinor) < 26) {
    console.error(`Cannot build: Go 1.26 or newer is needed on PATH (found "${goVersion}")`);
    return 1;
  }
  console.log(`Building into ${kubeCacheRoot()} with ${goVersion}`);
  try {
    await buildEtcd();
    await buildKubeApiserver();
  } catch (e) {
    if (!(e instanceof BuildFailed)) throw e;
    console.error(`Build failed: ${e.message}`);
    return 1;
  }
  return 0;
}

// Not Deno.exit: the project keeps that to main.ts; the exit code is set instead.
Deno.exitCode = await main();
