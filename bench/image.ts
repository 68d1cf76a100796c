/**
 * The container image's figures under a real containerd (Debian's 1.6 with runc, owned by this
 * run as in the tests): the archive's size and each layer's, how long `ctr images import`
 * takes, the wall time of `ctr run --rm IMAGE agent version` (container creation to exit) beside
 * `agent version` run on the host from the same source, and how long the daemon, the image's
 * default command, takes from `ctr run -d` until `/readyz` answers.
 *
 * Builds the image first (`deno task image`'s code) unless `--tar FILE` names one already built.
 * Needs root, mmdebstrap (for the build), containerd, runc and ctr.
 *
 * Run: deno task bench:image [--tar dist/agent-image.tar] [--runs 5]
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { ctr, startContainerd, stopContainer } from "../tests/support/containerd.ts";
import { freePort, waitFor } from "../tests/support/net.ts";
import { buildImage, IMAGE_REPOSITORY } from "../scripts/build_image.ts";
import { VERSION } from "../lib/version.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const NAMESPACE = "agent-image-bench";

function option(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await work();
  return [value, performance.now() - started];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const ms = (value: number) => `${Math.round(value)} ms`;

async function main(args: string[]): Promise<void> {
  const runs = Number(option(args, "--runs") ?? 5);
  const name = `${IMAGE_REPOSITORY}:${VERSION}`;
  const work = await Deno.makeTempDir({ prefix: "agent-image-bench-" });
  const containerd = await startContainerd();
  try {
    let tar = option(args, "--tar");
    if (!tar) {
      tar = `${work}/image.tar`;
      const [, buildMs] = await timed(() => buildImage(tar!, { name, log: () => {} }));
      console.log(`build (base cached): ${ms(buildMs)}`);
    }
    console.log(`archive: ${mb((await Deno.stat(tar)).size)}`);
    const index = JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command("tar", { args: ["-xOf", tar, "index.json"], stdout: "piped" })
          .output()).stdout,
      ),
    );
    const manifestDigest = index.manifests[0].digest.replace("sha256:", "");
    const manifest = JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command("tar", {
          args: ["-xOf", tar, `blobs/sha256/${manifestDigest}`],
          stdout: "piped",
        }).output()).stdout,
      ),
    );
    for (const [i, layer] of manifest.layers.entries()) {
      console.log(`layer ${i}: ${mb(layer.size)} compressed`);
    }
    const [imported, importMs] = await timed(() =>
      ctr(containerd.socket, NAMESPACE, ["images", "import", tar!])
    );
    if (imported.code !== 0) throw new Error(`ctr images import: ${imported.out}`);
    console.log(`ctr images import: ${ms(importMs)}`);

    const inImage: number[] = [];
    const onHost: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const [ran, runMs] = await timed(() =>
        ctr(containerd.socket, NAMESPACE, ["run", "--rm", name, `v${i}`, "agent", "version"])
      );
      if (ran.code !== 0) throw new Error(`ctr run: ${ran.out}`);
      const [, hostMs] = await timed(() =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-q",
            "-P=agent",
            "--config",
            `${ROOT}deno.json`,
            `${ROOT}main.ts`,
            "version",
          ],
          stdout: "null",
        }).output()
      );
      // The first of each is a warm-up.
      if (i > 0) inImage.push(runMs), onHost.push(hostMs);
    }
    console.log(`agent version, ctr run --rm (median of ${runs}): ${ms(median(inImage))}`);
    console.log(`agent version on the host (median of ${runs}): ${ms(median(onHost))}`);

    const port = freePort();
    const [, readyMs] = await timed(async () => {
      const started = await ctr(containerd.socket, NAMESPACE, [
        "run",
        "-d",
        "--net-host",
        name,
        "daemon",
        "agent",
        "daemon",
        `--listen-address=127.0.0.1:${port}`,
      ]);
      if (started.code !== 0) throw new Error(`ctr run -d: ${started.out}`);
      await waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/readyz`);
          await response.body?.cancel();
          return response.ok;
        },
        "the daemon's /readyz",
        120_000,
      );
    });
    console.log(`daemon, ctr run -d until /readyz answers: ${ms(readyMs)}`);
    await stopContainer(containerd.socket, NAMESPACE, "daemon");
  } finally {
    await containerd.close();
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await main(Deno.args);
