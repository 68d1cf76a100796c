/**
 * `deno task image`: builds the agent's container image without a registry or a Docker
 * daemon, as an OCI image-layout tar that `ctr images import` (or `docker load`,
 * `skopeo copy oci-archive:`) takes. Two layers:
 *
 * 1. a Debian bookworm root filesystem made by `mmdebstrap` (the essential packages and what
 *    the agent runs: gdb, elfutils, psmisc, attr, zstd, ca-certificates), cached under
 *    `~/.cache/agent/image/` by the hash of its recipe, since downloading it takes minutes;
 * 2. the agent: the Deno binary that runs this script, the source (`main.ts`, `cli/`,
 *    `daemon/`, `lib/`, `deno.json`, `deno.lock`), a Deno cache holding every npm package it
 *    imports (so that the image needs no network), and `/usr/local/bin/agent`.
 *
 * The image runs as the unprivileged user 65532 unless told otherwise, `agent` is its
 * entrypoint and `daemon` its default command, as in the Dockerfile; the release builds that
 * one with `deno compile` where Deno's servers are reachable (this machine cannot download
 * `denort`), so here the image carries Deno and the source instead.
 *
 * Usage: `deno task image [--output FILE] [--name NAME:TAG] [--base-only]`.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { createHash } from "node:crypto";
import { VERSION } from "../lib/version.ts";
import { LATER_MODULES } from "../main.ts";
import { mustRun, writeOciArchive } from "./oci_layout.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** The name the release publishes the image under (see .github/workflows/release.yml). */
export const IMAGE_REPOSITORY = "ghcr.io/agent-dev/agent";

/** The Debian packages the agent runs beside it: why each is there is in docs/deployment.md. */
export const IMAGE_PACKAGES = ["gdb", "elfutils", "psmisc", "attr", "zstd", "ca-certificates"];

/** The unprivileged user and group the image runs as by default. */
export const IMAGE_USER = 65532;

/** The recipe of the base root filesystem; its hash names the cached tar. */
function baseRecipe(): string[] {
  return [
    "mmdebstrap",
    "--variant=essential",
    "--format=tar",
    `--include=${IMAGE_PACKAGES.join(",")}`,
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/info/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "bookworm",
  ];
}

/** Where cached base root filesystems live. */
export function cacheDir(): string {
  const home = Deno.env.get("HOME") ?? "/root";
  return `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/agent/image`;
}

/** Why the image cannot be built here, or `undefined`. */
export function imageBuildMissing(): string | undefined {
  for (const tool of ["mmdebstrap", "tar", "gzip", "unshare", "mount"]) {
    const found = (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
      try {
        return Deno.statSync(`${dir}/${tool}`).isFile;
      } catch {
        return false;
      }
    });
    if (!found) return `${tool} is not installed`;
  }
  if (Deno.uid() !== 0) return "mmdebstrap needs root here (its unshare mode needs subuids)";
  return undefined;
}

/**
 * The base root filesystem as a tar: from the cache, else made by mmdebstrap (minutes: it
 * downloads the packages) and cached.
 */
export async function baseLayer(log: (line: string) => void = console.log): Promise<string> {
  const recipe = baseRecipe();
  const key = createHash("sha256").update(JSON.stringify(recipe)).digest("hex").slice(0, 16);
  const dir = cacheDir();
  const path = `${dir}/base-bookworm-${key}.tar`;
  try {
    await Deno.stat(path);
    return path;
  } catch {
    // Not cached yet.
  }
  await Deno.mkdir(dir, { recursive: true });
  log(`Making the base root filesystem with mmdebstrap (${IMAGE_PACKAGES.join(", ")})...`);
  const partial = `${path}.${Deno.pid}.partial`;
  try {
    await mustRun(recipe[0]!, [...recipe.slice(1), partial, "http://deb.debian.org/debian"]);
    await Deno.rename(partial, path);
  } finally {
    await Deno.remove(partial).catch(() => {});
  }
  return path;
}

/** The launcher the image runs: Deno on the agent's source, from its own cache, offline. */
const LAUNCHER = `#!/bin/sh
# The agent: Deno running its source with the project's permission set, from the cache built
# into the image (no network needed).
exec /usr/local/bin/deno run -q --v8-flags=--max-semi-space-size=1,--heap-growing-percent=50,--no-concurrent-recompilation -P=agent --cached-only --config /opt/agent/deno.json /opt/agent/main.ts "$@"
`;

/** Loads every module of the agent; what fails to load is left to fail where it is used. */
const WARM_UP = `
for (const dir of ["cli", "daemon", "lib"]) {
  const visit = async (path) => {
    for await (const entry of Deno.readDir(path)) {
      const child = \`\${path}/\${entry.name}\`;
      if (entry.isDirectory) await visit(child);
      else if (child.endsWith(".ts")) await import(\`file://\${child}\`).catch(() => {});
    }
  };
  await visit(\`/opt/agent/\${dir}\`);
}
`;

/**
 * Fills the image's Deno cache with the agent's transpiled modules and V8's code cache, so
 * that it starts without compiling its source (about 1.5 s less for `agent version`). Both
 * caches are keyed by the module's path, so this runs with the source at the path it has in
 * the image, `/opt/agent`: in a mount namespace of its own, where a tmpfs on /opt holds a bind
 * mount of `opt`. Nothing changes outside it.
 */
async function warmCache(dir: string, opt: string): Promise<void> {
  await Deno.writeTextFile(`${dir}/warm.js`, WARM_UP);
  const deno = ["run", "-q", "-A", "--cached-only", "--config", "/opt/agent/deno.json"];
  await mustRun(
    "unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tmpfs tmpfs /opt && mkdir /opt/agent && mount --bind "$OPT" /opt/agent && ' +
      '"$DENO" "$@" "$WARM" && "$DENO" "$@" /opt/agent/main.ts version',
      "sh",
      ...deno,
    ],
    { OPT: opt, DENO: Deno.execPath(), WARM: `${dir}/warm.js`, DENO_DIR: "/opt/agent/deno-dir" },
  );
}

/** The agent's own layer as a directory tree under `dir/root`, then as `dir/agent.tar`. */
async function agentLayer(dir: string): Promise<string> {
  const root = `${dir}/root`;
  const opt = `${root}/opt/agent`;
  await Deno.mkdir(`${root}/usr/local/bin`, { recursive: true });
  await Deno.mkdir(opt, { recursive: true });
  await Deno.copyFile(Deno.execPath(), `${root}/usr/local/bin/deno`);
  await Deno.chmod(`${root}/usr/local/bin/deno`, 0o755);
  await Deno.writeTextFile(`${root}/usr/local/bin/agent`, LAUNCHER, { mode: 0o755 });
  await Deno.chmod(`${root}/usr/local/bin/agent`, 0o755);
  // The source the agent runs: no tests, benchmarks or scripts.
  await mustRun("sh", [
    "-c",
    'tar -C "$0" --exclude="*_test.ts" --exclude=testdata -cf - main.ts deno.json deno.lock ' +
    'cli daemon lib | tar -C "$1" -xf -',
    ROOT,
    opt,
  ]);
  // The npm packages the agent imports, into the image's own Deno cache (from the npm
  // registry: a cache of its own holds only what the agent needs).
  const env = { DENO_DIR: `${opt}/deno-dir`, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  await mustRun(
    Deno.execPath(),
    // main.ts imports the command line by a specifier `deno cache` does not read: named here.
    [
      "cache",
      "-q",
      "--config",
      `${opt}/deno.json`,
      ...["main.ts", ...LATER_MODULES].map((m) => `${opt}/${m}`),
    ],
    env,
  );
  await warmCache(dir, opt);
  await Deno.mkdir(`${root}/var/lib/agent`, { recursive: true });
  await Deno.mkdir(`${root}/etc/agent`, { recursive: true });
  const layer = `${dir}/agent.tar`;
  await mustRun("tar", [
    "-C",
    root,
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@0",
    "-cf",
    layer,
    "usr",
    "opt",
    "etc",
    "var",
  ]);
  // The state directory belongs to the image's user, who writes there by default.
  await mustRun("tar", [
    "-C",
    root,
    "--owner=" + IMAGE_USER,
    "--group=" + IMAGE_USER,
    "--numeric-owner",
    "--mtime=@0",
    "--no-recursion",
    "-rf",
    layer,
    "var/lib/agent",
  ]);
  return layer;
}

/** The image's configuration: its user, entrypoint, default command and environment. */
export function imageConfig(): Record<string, unknown> {
  return {
    User: `${IMAGE_USER}:${IMAGE_USER}`,
    Entrypoint: ["/usr/local/bin/agent"],
    Cmd: ["daemon"],
    Env: [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "DENO_DIR=/opt/agent/deno-dir",
      "DENO_NO_UPDATE_CHECK=1",
      "NO_COLOR=1",
    ],
    WorkingDir: "/var/lib/agent",
    Labels: {
      "org.opencontainers.image.title": "agent",
      "org.opencontainers.image.version": VERSION,
      "org.opencontainers.image.description":
        "Crash forensics and node metrics for Kubernetes nodes",
    },
  };
}

/** Builds the image into `output` (an OCI layout tar) and returns its name. */
export async function buildImage(
  output: string,
  options: { name?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const log = options.log ?? console.log;
  const name = options.name ?? `${IMAGE_REPOSITORY}:${VERSION}`;
  const base = await baseLayer(log);
  const work = await Deno.makeTempDir({ prefix: "agent-image-" });
  try {
    log("Adding Deno, the agent's source and its npm packages...");
    const agent = await agentLayer(work);
    log("Writing the OCI image layout...");
    await writeOciArchive(output, {
      name,
      layers: [base, agent],
      createdBy: [`${baseRecipe().join(" ")} (scripts/build_image.ts)`, "the agent"],
      config: imageConfig(),
      gzip: true,
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  return name;
}

/** What `deno task image` was asked to do. */
export interface ImageArgs {
  output: string;
  name: string;
  baseOnly: boolean;
}

/** An image reference: `[registry/]repository:tag`, in lower case but for the tag. */
const IMAGE_NAME =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*:[\w][\w.-]{0,127}$/;

/**
 * Reads the arguments of `deno task image`; a relative `--output` is taken from the caller's
 * directory (`cwd`). Throws a one-line message naming the argument that is wrong.
 */
export function parseImageArgs(args: string[], cwd: string): ImageArgs {
  const parsed: ImageArgs = {
    output: `${ROOT}/dist/agent-image.tar`,
    name: `${IMAGE_REPOSITORY}:${VERSION}`,
    baseOnly: false,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--base-only") {
      parsed.baseOnly = true;
      continue;
    }
    if (arg !== "--output" && arg !== "--name") {
      throw new Error(
        `Unknown argument "${arg}" (expected --output FILE, --name NAME:TAG or --base-only)`,
      );
    }
    const value = args[++i];
    if (!value || value.startsWith("--")) throw new Error(`${arg} needs a value`);
    if (arg === "--name") {
      if (!IMAGE_NAME.test(value)) {
        throw new Error(
          `Invalid --name "${value}": expected [REGISTRY/]REPOSITORY:TAG in lower case`,
        );
      }
      parsed.name = value;
    } else {
      parsed.output = value.startsWith("/") ? value : `${cwd}/${value}`;
    }
  }
  return parsed;
}

if (import.meta.main) {
  let args: ImageArgs;
  try {
    args = parseImageArgs(Deno.args, Deno.env.get("INIT_CWD") ?? Deno.cwd());
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
  const missing = imageBuildMissing();
  if (missing) {
    console.error(`Cannot build the image here: ${missing}`);
    Deno.exit(3);
  }
  try {
    if (args.baseOnly) {
      console.log(`Base root filesystem: ${await baseLayer()}`);
    } else {
      await Deno.mkdir(args.output.slice(0, args.output.lastIndexOf("/")) || "/", {
        recursive: true,
      });
      const name = await buildImage(args.output, { name: args.name });
      console.log(`Built ${name} into ${args.output} (ctr images import ${args.output})`);
    }
  } catch (error) {
    console.error(`Cannot build the image: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
