/**
 * The agent's container image. `deno task image` builds it offline (a Debian root filesystem
 * made by mmdebstrap, the agent's layer, written as an OCI image layout); here it is imported
 * into a real containerd and run with `ctr run`, as the image's own unprivileged user: `agent
 * version`, `agent analyze core` on a core mounted read-only, whose stack gdb in the image
 * resolves, and its default command, the daemon, until it answers `/readyz` and stops on SIGTERM. The Dockerfile the release builds must say what the offline build does (packages,
 * user, entrypoint, command), and the DaemonSet must name the image the release publishes.
 *
 * The first build downloads Debian's packages (minutes); the base is cached afterwards under
 * `~/.cache/agent/image/`.
 */
import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { containerdSkipReason, ctr, startContainerd, stopContainer } from "./support/containerd.ts";
import { sampleCores, skipBecause } from "./support/cores.ts";
import { freePort, waitFor } from "./support/net.ts";
import {
  buildImage,
  IMAGE_PACKAGES,
  IMAGE_REPOSITORY,
  IMAGE_USER,
  imageBuildMissing,
  imageConfig,
  parseImageArgs,
} from "../scripts/build_image.ts";
import { VERSION } from "../lib/version.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const missing = containerdSkipReason() ?? imageBuildMissing();
const skip = missing !== undefined &&
  skipBecause(missing, "the container image is not built or run under containerd");

Deno.test("the Dockerfile builds what the offline image build does", async () => {
  const dockerfile = await Deno.readTextFile(`${ROOT}Dockerfile`);
  const install = dockerfile.match(/apt-get install -y --no-install-recommends ([^\\&\n]+)/);
  assert(install, "the Dockerfile installs Debian packages");
  assertEquals(install[1]!.trim().split(/\s+/).sort(), [...IMAGE_PACKAGES].sort());
  assertStringIncludes(dockerfile, "FROM debian:bookworm-slim");
  const config = imageConfig();
  assertStringIncludes(dockerfile, `USER ${config.User}`);
  assertStringIncludes(dockerfile, `ENTRYPOINT ${JSON.stringify(config.Entrypoint)}`);
  assertStringIncludes(dockerfile, `CMD ${JSON.stringify(config.Cmd)}`);
  assertStringIncludes(dockerfile, `WORKDIR ${config.WorkingDir}`);
  assertStringIncludes(dockerfile, `install -d -o ${IMAGE_USER} -g ${IMAGE_USER} /var/lib/agent`);
});

Deno.test("the DaemonSet and the release name the same image", async () => {
  const daemonset = await Deno.readTextFile(`${ROOT}manifests/daemonset.yaml`);
  assertStringIncludes(daemonset, `image: ${IMAGE_REPOSITORY}:${VERSION}\n`);
  const release = await Deno.readTextFile(`${ROOT}.github/workflows/release.yml`);
  assertStringIncludes(release, `IMAGE: ${IMAGE_REPOSITORY}\n`);
});

Deno.test("deno task image names the argument it cannot take", () => {
  const cases: [string[], string][] = [
    [
      ["--out", "x.tar"],
      'Unknown argument "--out" (expected --output FILE, --name NAME:TAG or --base-only)',
    ],
    [["--output"], "--output needs a value"],
    [["--name", "--base-only"], "--name needs a value"],
    [
      ["--name", "Agent:1"],
      'Invalid --name "Agent:1": expected [REGISTRY/]REPOSITORY:TAG in lower case',
    ],
    [
      ["--name", "agent"],
      'Invalid --name "agent": expected [REGISTRY/]REPOSITORY:TAG in lower case',
    ],
  ];
  for (const [args, message] of cases) {
    let thrown = "";
    try {
      parseImageArgs(args, "/here");
    } catch (error) {
      thrown = (error as Error).message;
    }
    assertEquals(thrown, message, args.join(" "));
  }
  assertEquals(
    parseImageArgs(["--output", "out/i.tar", "--name", "localhost:5000/a/agent:dev"], "/here"),
    {
      output: "/here/out/i.tar",
      name: "localhost:5000/a/agent:dev",
      baseOnly: false,
    },
  );
  assertEquals(parseImageArgs([], "/here").name, `${IMAGE_REPOSITORY}:${VERSION}`);
});

/** The namespace of containerd the image is imported into. */
const NAMESPACE = "agent-image-test";

Deno.test({
  name: "the image runs agent version, agent analyze core and the daemon under a real containerd",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    await withTempDir(async (dir) => {
      const name = `${IMAGE_REPOSITORY}:${VERSION}`;
      const tar = `${dir}/image.tar`;
      await buildImage(tar, { name, log: () => {} });
      // The core and its executable, readable by the image's user, mounted read-only.
      const { segv } = await sampleCores();
      const cores = `${dir}/cores`;
      await Deno.mkdir(cores);
      await Deno.copyFile(segv.core, `${cores}/core.segv`);
      await Deno.copyFile(segv.exe, `${cores}/segv`);
      await Deno.chmod(`${cores}/core.segv`, 0o644);
      await Deno.chmod(`${cores}/segv`, 0o755);
      await Deno.chmod(cores, 0o755);

      const containerd = await startContainerd();
      try {
        const imported = await ctr(containerd.socket, NAMESPACE, ["images", "import", tar]);
        assertEquals(imported.code, 0, imported.out);
        // runc keeps containers by id across containerd instances: ids of this run only, as
        // another test run on the machine may be running the same containers.
        const unique = (id: string) => `${id}-${crypto.randomUUID().slice(0, 8)}`;
        const daemonId = unique("agent-daemon");
        const run = (id: string, args: string[]) =>
          ctr(containerd.socket, NAMESPACE, [
            "run",
            "--rm",
            // A read-only root filesystem and a writable /tmp, as the DaemonSet has.
            "--read-only",
            "--mount",
            "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:mode=1777",
            "--mount",
            `type=bind,src=${cores},dst=/cores,options=rbind:ro`,
            name,
            unique(id),
            ...args,
          ]);

        const user = await run("agent-user", ["id", "-u"]);
        assertEquals(user.out.trim(), String(IMAGE_USER));

        const version = await run("agent-version", ["agent", "version"]);
        assertEquals(version.code, 0, version.out);
        assertStringIncludes(version.out, VERSION);

        const analyzed = await run("agent-analyze", [
          "agent",
          "analyze",
          "core",
          "/cores/core.segv",
          "--exe",
          "/cores/segv",
          "-o",
          "json",
        ]);
        assertEquals(analyzed.code, 0, analyzed.out);
        const report = JSON.parse(analyzed.out);
        assertEquals(report.signal.name, "SIGSEGV");
        assertEquals(report.process.name, "segv");
        assertEquals(
          report.stackTrace.slice(0, 2).map((f: { function: string }) => f.function),
          ["deref", "main"],
        );

        // The default command, the daemon, on the host's loopback: up, then stopped by SIGTERM.
        const state = `${dir}/state`;
        await Deno.mkdir(state);
        await Deno.chown(state, IMAGE_USER, IMAGE_USER);
        const port = freePort();
        const daemon = await ctr(containerd.socket, NAMESPACE, [
          "run",
          "-d",
          "--net-host",
          // As in the DaemonSet: the root filesystem read-only, the state directory a host
          // directory, /tmp a writable volume.
          "--read-only",
          "--mount",
          `type=bind,src=${state},dst=/var/lib/agent,options=rbind:rw`,
          "--mount",
          "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:mode=1777",
          name,
          daemonId,
          "agent",
          "daemon",
          `--listen-address=127.0.0.1:${port}`,
        ]);
        assertEquals(daemon.code, 0, daemon.out);
        try {
          const get = async (path: string) => {
            const response = await fetch(`http://127.0.0.1:${port}${path}`);
            return `${response.status} ${(await response.text()).trim()}`;
          };
          await waitFor(
            async () => await get("/readyz") === "200 ok",
            "the daemon in the image",
            60_000,
          );
          assertEquals(await get("/healthz"), "200 ok");
          // Its state database is in the state directory, written as the image's user.
          assertEquals((await Deno.stat(`${state}/state.db`)).uid, IMAGE_USER);
        } finally {
          await stopContainer(containerd.socket, NAMESPACE, daemonId);
        }
      } finally {
        await containerd.close();
      }
    });
  },
});
