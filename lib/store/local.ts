/**
 * The local (and NFS) store: a directory tree with one folder per Milvus instance, each
 * core as `{timestamp}_{pod}_{container}.core.gz|.zst` with a JSON metadata file beside it.
 * Both are written atomically (temporary name, fsync, rename, directory fsync), so a reader
 * never sees half an object, on a local disk or an NFS mount alike.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { safeName } from "../collect/names.ts";
import { storeCompressed, type StoredFile } from "./compress.ts";

/** A stored core as its metadata file describes it. */
export interface StoredObject {
  /** `instance/file`, relative to the store's root. */
  key: string;
  /** Where it lives, e.g. `file:///var/lib/agent/cores/prod/...`. */
  uri: string;
  bytes: number;
  sha256: string;
  compression: "gzip" | "zstd";
  storedAt: string;
  /** What the pipeline recorded: analysis, score, pod, node, fingerprint... */
  metadata: Record<string, unknown>;
}

/** What {@linkcode LocalStore.put} needs. */
export interface PutOptions {
  instance: string;
  pod: string;
  container: string;
  /** Crash time, for the object's name. */
  time: Date;
  compression: "gzip" | "zstd";
  sourceCompression?: "none" | "gzip" | "zstd";
  metadata?: Record<string, unknown>;
}

/**
 * The object name: `20261122T010203Z_pod_container.core.gz`, every part made safe as a
 * path component.
 *
 * @example Usage
 * ```ts
 * objectName(new Date("2026-11-22T01:02:03Z"), "querynode-0", "main", "zstd");
 * // "20261122T010203Z_querynode-0_main.core.zst"
 * ```
 */
export function objectName(
  time: Date,
  pod: string,
  container: string,
  compression: "gzip" | "zstd",
): string {
  const stamp = time.toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
  return `${stamp}_${safeName(pod)}_${safeName(container)}.core.${
    compression === "gzip" ? "gz" : "zst"
  }`;
}

/** A store in a directory. */
export class LocalStore {
  /** Creates a store rooted at `root` (created on first write). */
  constructor(readonly root: string) {}

  /**
   * Stores a core compressed, then its metadata.
   *
   * @throws {InputError} when the source cannot be read.
   * @throws {UnavailableError} when the store cannot be written.
   */
  async put(source: string, options: PutOptions): Promise<StoredObject> {
    const folder = safeName(options.instance);
    await Deno.mkdir(`${this.root}/${folder}`, { recursive: true, mode: 0o700 });
    const name = objectName(options.time, options.pod, options.container, options.compression);
    const key = `${folder}/${name}`;
    const stored: StoredFile = await storeCompressed(source, `${this.root}/${key}`, {
      compression: options.compression,
      sourceCompression: options.sourceCompression,
    });
    const object: StoredObject = {
      key,
      uri: this.uri(key),
      bytes: stored.bytes,
      sha256: stored.sha256,
      compression: options.compression,
      storedAt: new Date().toISOString(),
      metadata: options.metadata ?? {},
    };
    await writeAtomically(`${this.root}/${key}.json`, JSON.stringify(object, null, 2) + "\n");
    return object;
  }

  /** The URI of a key. */
  uri(key: string): string {
    return new URL(`file://${this.root}/${key}`).href;
  }

  /** Every stored object with readable metadata; `onSkip` hears about the others. */
  async *list(onSkip?: (path: string, reason: string) => void): AsyncGenerator<StoredObject> {
    let folders: Deno.DirEntry[];
    try {
      folders = await Array.fromAsync(Deno.readDir(this.root));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (
      const folder of folders.filter((f) => f.isDirectory).sort((a, b) =>
        a.name.localeCompare(b.name)
      )
    ) {
      const files = await Array.fromAsync(Deno.readDir(`${this.root}/${folder.name}`));
      for (
        const file of files.filter((f) => f.isFile && f.name.endsWith(".json")).sort((a, b) =>
          a.name.localeCompare(b.name)
        )
      ) {
        const path = `${this.root}/${folder.name}/${file.name}`;
        try {
          const object = JSON.parse(await Deno.readTextFile(path)) as StoredObject;
          if (typeof object.key !== "string" || typeof object.bytes !== "number") {
            throw new Error("not a store record");
          }
          yield object;
        } catch (error) {
          onSkip?.(path, error instanceof Error ? error.message : String(error));
        }
      }
    }
  }

  /** Deletes an object and its metadata; already gone is fine. */
  async delete(key: string): Promise<void> {
    if (key.split("/").some((part) => part === ".." || part === "") || key.startsWith("/")) {
      throw new InputError(`Refusing to delete "${key}": not a key of this store`);
    }
    for (const path of [`${this.root}/${key}`, `${this.root}/${key}.json`]) {
      await Deno.remove(path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${crypto.randomUUID().slice(0, 8)}.part`;
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}
