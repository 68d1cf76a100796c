/**
 * A small writer of OCI image-layout archives, for images built where no registry and no
 * image builder are reachable: the layers (tar files) are hashed as streams, gzipped or kept
 * as they are, and written with their config, manifest and index into one tar that
 * `ctr images import`, `docker load` and `skopeo copy oci-archive:` take. The index names the
 * image with `io.containerd.image.name` (what `ctr images import` reads) and
 * `org.opencontainers.image.ref.name` (its tag).
 *
 * Used by `scripts/build_image.ts` (the agent's image) and the tests' own small images.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { runCommand, text } from "../lib/run.ts";

/** An image to write. */
export interface LayoutImage {
  /** Its full name, `registry/repository:tag`. */
  name: string;
  /** Its layers, bottom first: each an uncompressed tar file. */
  layers: string[];
  /** What made each layer, for the config's history (as many as layers, or none). */
  createdBy?: string[];
  /** The image's runtime config (User, Entrypoint, Cmd, Env, WorkingDir, Labels...). */
  config: Record<string, unknown>;
  /** Gzip the layers (`gzip -n -1`: no name or time, so the same tar gives the same blob). */
  gzip?: boolean;
}

/** The platform this machine builds for, in OCI's words. */
export function hostPlatform(): { architecture: string; os: string } {
  const architecture = ({ x86_64: "amd64", aarch64: "arm64" } as const)[Deno.build.arch];
  return { architecture, os: "linux" };
}

/** The SHA-256 of a file, read as a stream (layers are hundreds of megabytes). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Uint8Array);
  return hash.digest("hex");
}

/**
 * Runs a program to its end (with `env` added to the environment) and throws with its
 * stderr's tail when it fails.
 */
export async function mustRun(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<string> {
  const out = await runCommand(command, { args, timeoutMs: 30 * 60_000, ...(env ? { env } : {}) });
  if (out.code !== 0) {
    const tail = text(out.stderr).trim().split("\n").slice(-10).join("\n");
    const why = out.timedOut ? "timed out" : `exit code ${out.code}`;
    throw new Error(`${command} ${args[0] ?? ""} failed (${why}): ${tail}`);
  }
  return text(out.stdout);
}

/**
 * Writes `image` as an OCI image-layout tar at `output`, through a work directory beside it
 * that is removed at the end. Returns the manifest's digest.
 */
export async function writeOciArchive(output: string, image: LayoutImage): Promise<string> {
  const slash = output.lastIndexOf("/");
  const parent = slash > 0 ? output.slice(0, slash) : slash === 0 ? "/" : ".";
  const dir = await Deno.makeTempDir({ dir: parent, prefix: ".oci-layout-" });
  try {
    const blobs = `${dir}/blobs/sha256`;
    await Deno.mkdir(blobs, { recursive: true });
    const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    const put = async (bytes: Uint8Array) => {
      const hex = createHash("sha256").update(bytes).digest("hex");
      await Deno.writeFile(`${blobs}/${hex}`, bytes);
      return { digest: `sha256:${hex}`, size: bytes.length };
    };
    const layers: { mediaType: string; digest: string; size: number }[] = [];
    const diffIds: string[] = [];
    for (const [i, tar] of image.layers.entries()) {
      const diffId = await sha256File(tar);
      diffIds.push(`sha256:${diffId}`);
      let blob = `${dir}/layer-${i}`;
      if (image.gzip) {
        await mustRun("sh", ["-c", 'gzip -n -1 -c "$0" > "$1"', tar, blob]);
      } else {
        await Deno.copyFile(tar, blob);
      }
      const hex = image.gzip ? await sha256File(blob) : diffId;
      await Deno.rename(blob, blob = `${blobs}/${hex}`);
      layers.push({
        mediaType: `application/vnd.oci.image.layer.v1.tar${image.gzip ? "+gzip" : ""}`,
        digest: `sha256:${hex}`,
        size: (await Deno.stat(blob)).size,
      });
    }
    const platform = hostPlatform();
    const config = await put(json({
      ...platform,
      config: image.config,
      rootfs: { type: "layers", diff_ids: diffIds },
      ...(image.createdBy ? { history: image.createdBy.map((by) => ({ created_by: by })) } : {}),
    }));
    const manifest = await put(json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
      layers,
    }));
    await Deno.writeFile(
      `${dir}/index.json`,
      json({
        schemaVersion: 2,
        manifests: [{
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          platform,
          annotations: {
            "io.containerd.image.name": image.name,
            "org.opencontainers.image.ref.name": image.name.slice(image.name.lastIndexOf(":") + 1),
          },
        }],
      }),
    );
    await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await mustRun("tar", ["-C", dir, "-cf", output, "oci-layout", "index.json", "blobs"]);
    return manifest.digest;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
