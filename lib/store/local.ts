/**
 * The local (and NFS) store: a directory tree with one folder per Milvus instance, each
 * core as `{timestamp}_{pod}_{container}.core.gz|.zst` with a JSON metadata file beside it.
 * Both are written atomically (temporary name, fsync, rename, directory fsync), so a reader
 * never sees half an object, on a local disk or an NFS mount alike.
 *
 * @module
 */
import type { Readable } from "node:stream";
import { errorMessage, InputError, UnavailableError } from "../errors.ts";
import { objectName, safeName, safeObjectName } from "./names.ts";
import {
  EXPLANATION_SUFFIX,
  isSafeKey,
  metadataText,
  type PutOptions,
  type PutResult,
  type Store,
  type StoredObject,
  storedObject,
} from "./backend.ts";
import type { StoredFile } from "./compress.ts";
import { compressors, storeCompressed } from "./_lazy.ts";
import { temporaryName, temporaryWriter, writeReason } from "./_temporary.ts";
import { isLeftover, writerTag } from "./_leftovers.ts";
import { freeBytes as freeBytesAt } from "../disk.ts";
import { writeAll } from "../io.ts";

export type { PutOptions, StoredObject };

/** A store in a directory: `local`, or `nfs` for a mounted network filesystem. */
export class LocalStore implements Store {
  readonly location: string;

  /** The tag of this process's temporary files: the writer and the pid. */
  readonly #tag: string;

  /**
   * Creates a store rooted at `root` (created on first write). `writer` names this agent
   * (its node) in temporary files, so that {@linkcode sweep} removes only leftovers of
   * processes that are gone at once (and other nodes' when they are an hour old, on a
   * folder several nodes share).
   */
  constructor(
    readonly root: string,
    readonly kind: "local" | "nfs" = "local",
    readonly writer = "agent",
  ) {
    this.location = root;
    this.#tag = writerTag(writer);
  }

  /** Stores a core compressed, then its metadata. */
  async put(source: string | Readable, options: PutOptions): Promise<PutResult> {
    const folder = safeName(options.instance);
    await Deno.mkdir(`${this.root}/${folder}`, { recursive: true, mode: 0o700 });
    const name = options.name !== undefined
      ? safeObjectName(options.name)
      : objectName(options.time, options.pod, options.container, options.compression);
    const key = `${folder}/${name}`;
    const stored: StoredFile = await storeCompressed(source, `${this.root}/${key}`, {
      compression: options.compression,
      sourceCompression: options.sourceCompression,
      expectedSourceBytes: options.expectedSourceBytes,
      maxUnpackedBytes: options.maxUnpackedBytes,
      writer: this.#tag,
      workers: options.workers,
    });
    const object = storedObject(key, this.uri(key), stored, options);
    try {
      await writeAtomically(
        `${this.root}/${key}.json`,
        metadataText(object),
        this.#tag,
      );
    } catch (error) {
      await Deno.remove(`${this.root}/${key}`).catch(() => {});
      // The core fitted and its metadata did not: the same failure as a full disk before.
      throw new UnavailableError(
        `Cannot store the metadata of "${this.uri(key)}": ${writeReason(error)}`,
        { cause: error },
      );
    }
    return { ...object, sourceBytes: stored.sourceBytes };
  }

  /** The URI of a key. */
  uri(key: string): string {
    return new URL(`file://${this.root}/${key}`).href;
  }

  /** Every stored object with readable metadata; `onSkip` hears about the others. */
  async *list(onSkip?: (path: string, reason: string) => void): AsyncGenerator<StoredObject> {
    for (const folder of await this.#folders()) {
      const files = await Array.fromAsync(Deno.readDir(`${this.root}/${folder}`));
      for (
        const file of files.filter((f) =>
          f.isFile && f.name.endsWith(".json") && !f.name.endsWith(EXPLANATION_SUFFIX)
        ).sort((a, b) => a.name.localeCompare(b.name))
      ) {
        const path = `${this.root}/${folder}/${file.name}`;
        try {
          const object = JSON.parse(await Deno.readTextFile(path)) as StoredObject;
          if (typeof object.key !== "string" || typeof object.bytes !== "number") {
            throw new Error("not a store record");
          }
          yield object;
        } catch (error) {
          onSkip?.(path, errorMessage(error));
        }
      }
    }
  }

  async #folders(): Promise<string[]> {
    try {
      return (await Array.fromAsync(Deno.readDir(this.root))).filter((f) => f.isDirectory)
        .map((f) => f.name).sort();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  }

  /** Deletes an object and its metadata; already gone is fine. */
  async delete(key: string): Promise<void> {
    if (!isSafeKey(key)) {
      throw new InputError(`Refusing to delete "${key}": not a key of this store`);
    }
    for (
      const path of [
        `${this.root}/${key}`,
        `${this.root}/${key}.json`,
        `${this.root}/${key}${EXPLANATION_SUFFIX}`,
      ]
    ) {
      await Deno.remove(path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
  }

  /** Hashes the stored file again and compares size and SHA-256. */
  async verify(object: StoredObject): Promise<boolean> {
    if (!isSafeKey(object.key)) return false;
    const { verifyStored } = await compressors();
    try {
      return await verifyStored(`${this.root}/${object.key}`, object);
    } catch {
      return false;
    }
  }

  /** Free bytes on the filesystem holding the store (from `df`), `undefined` if unknown. */
  freeBytes(): Promise<number | undefined> {
    // The root may not exist yet: the nearest folder that does answers for it.
    return freeBytesAt(this.root);
  }

  /** Whether a file (of a debug bundle) is stored under `key`. */
  async hasFile(key: string): Promise<boolean> {
    requireKey(key);
    return await Deno.stat(`${this.root}/${key}`).then((info) => info.isFile, () => false);
  }

  /** Copies the file at `path` under `key` through a temporary name. */
  async putFile(key: string, path: string): Promise<number> {
    requireKey(key);
    const target = `${this.root}/${key}`;
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    const temporary = temporaryName(target, this.#tag);
    try {
      await Deno.copyFile(path, temporary);
    } catch (error) {
      await Deno.remove(temporary).catch(() => {});
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.PermissionDenied) {
        throw new InputError(`Cannot read "${path}": ${error.message}`, { cause: error });
      }
      throw new UnavailableError(`Cannot store "${path}" as "${this.uri(key)}": ${error}`, {
        cause: error,
      });
    }
    await Deno.rename(temporary, target);
    return (await Deno.stat(target)).size;
  }

  /** Copies the file stored under `key` to `destination`. */
  async getFile(key: string, destination: string): Promise<void> {
    requireKey(key);
    try {
      await Deno.copyFile(`${this.root}/${key}`, destination);
    } catch (error) {
      throw new UnavailableError(`Cannot read "${this.uri(key)}": ${error}`, { cause: error });
    }
  }

  /** Writes a small text object under `key` through a temporary name. */
  async putText(key: string, text: string): Promise<void> {
    requireKey(key);
    const target = `${this.root}/${key}`;
    try {
      await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true, mode: 0o700 });
      await writeAtomically(target, text, this.#tag);
    } catch (error) {
      throw new UnavailableError(`Cannot store "${this.uri(key)}": ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /** The stored file's path: gdb can read it where it is. */
  localPath(key: string): string {
    return `${this.root}/${key}`;
  }

  /**
   * Removes temporary files of interrupted writes: this process's and those of processes
   * of this node that are gone at once, other nodes' once they are an hour old; never those
   * of a live process of this node. Returns how many it removed.
   */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const folder of await this.#folders()) {
      for await (const entry of Deno.readDir(`${this.root}/${folder}`)) {
        const tag = entry.isFile ? temporaryWriter(entry.name) : undefined;
        if (tag === undefined) continue;
        const path = `${this.root}/${folder}/${entry.name}`;
        const mtime = (await Deno.stat(path).catch(() => undefined))?.mtime?.getTime();
        if (!(await isLeftover(tag, this.#tag, mtime))) continue;
        await Deno.remove(path).then(() => removed++, () => {});
      }
    }
    return removed;
  }
}

function requireKey(key: string): void {
  if (!isSafeKey(key)) throw new InputError(`Refusing "${key}": not a key of this store`);
}

async function writeAtomically(path: string, text: string, writer: string): Promise<void> {
  const temporary = temporaryName(path, writer);
  try {
    const file = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    try {
      await writeAll(file, new TextEncoder().encode(text));
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
