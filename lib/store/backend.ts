/**
 * What every storage backend offers: the local directory tree, the same on an NFS mount, and
 * S3-compatible object storage. A stored core is an object named
 * `{timestamp}_{pod}_{container}.core.gz|.zst` under its instance's folder (or prefix), with a
 * JSON metadata object beside it (`....json`). An object exists for readers only once it is
 * complete: local writes go through a temporary name, fsync and rename; S3 uploads become
 * visible when the multipart upload completes.
 *
 * @module
 */
import type { Readable } from "node:stream";

/** How stored cores are compressed. */
export type StoreCompression = "gzip" | "zstd";

/** A stored core as its metadata object describes it. */
export interface StoredObject {
  /** `instance/file`, relative to the store's root (or S3 prefix). */
  key: string;
  /** Where it lives, e.g. `file:///var/lib/agent/cores/prod/...` or `s3://bucket/cores/prod/...`. */
  uri: string;
  /** Bytes stored (compressed). */
  bytes: number;
  /** SHA-256 (hex) of the stored bytes. */
  sha256: string;
  compression: StoreCompression;
  storedAt: string;
  /** What the pipeline recorded: analysis, score, pod, node, fingerprint... */
  metadata: Record<string, unknown>;
}

/** What {@linkcode Store.put} needs. */
export interface PutOptions {
  instance: string;
  pod: string;
  container: string;
  /** Crash time, for the object's name. */
  time: Date;
  compression: StoreCompression;
  /**
   * How the source is compressed already (from its first bytes); default none. An lz4
   * source is decompressed and compressed again as `compression` says.
   */
  sourceCompression?: "none" | "gzip" | "zstd" | "lz4";
  metadata?: Record<string, unknown>;
  /**
   * Overrides the object's file name (still inside the instance folder); the pipeline uses
   * it to make a name unique. Must be a single safe path component.
   */
  name?: string;
  /** Bytes the source must have; a source that ends shorter or longer fails the put. */
  expectedSourceBytes?: number;
  /**
   * Most bytes a compressed source may unpack to when it is recompressed (the size the
   * core's program headers declare): one that unpacks to more fails the put.
   */
  maxUnpackedBytes?: number;
  /** Threads compressing zstd at once (`storage.compressionWorkers`); default 1. */
  workers?: number;
}

/** A put's result: the object plus how many source bytes were read. */
export interface PutResult extends StoredObject {
  sourceBytes: number;
}

/** A storage backend. */
export interface Store {
  /** `local`, `nfs` or `s3`. */
  readonly kind: "local" | "nfs" | "s3";
  /** Where the store is, for messages: a directory or `s3://bucket/prefix`. */
  readonly location: string;
  /**
   * Stores a core (a file path, or a stream such as the kernel's pipe) compressed, then its
   * metadata. Nothing is visible under the key unless both complete.
   *
   * @throws {InputError} when the source cannot be read (or its size is not as expected).
   * @throws {UnavailableError} when the store cannot be written (disk full, S3 down).
   */
  put(source: string | Readable, options: PutOptions): Promise<PutResult>;
  /** Every stored object with readable metadata; `onSkip` hears about the others. */
  list(onSkip?: (where: string, reason: string) => void): AsyncGenerator<StoredObject>;
  /** Deletes an object and its metadata; already gone is fine. */
  delete(key: string): Promise<void>;
  /**
   * Checks that the stored object is there, whole: the check that must pass before the
   * original core is deleted.
   */
  verify(object: StoredObject): Promise<boolean>;
  /** The URI of a key. */
  uri(key: string): string;
  /** Free bytes on the store's filesystem, or `undefined` where that means nothing (S3). */
  freeBytes(): Promise<number | undefined>;
  /** Removes leftovers of interrupted writes (temporary files, incomplete uploads). */
  sweep(): Promise<number>;
  /**
   * Whether a file (of a debug bundle) is stored under `key`.
   *
   * @throws {UnavailableError} when the store cannot be asked.
   */
  hasFile(key: string): Promise<boolean>;
  /**
   * Stores the file at `path` as it is (a debug bundle's executable or library) under `key`,
   * atomically, and returns its size. No metadata goes with it: it is not a core.
   *
   * @throws {InputError} when the file cannot be read.
   * @throws {UnavailableError} when the store cannot be written.
   */
  putFile(key: string, path: string): Promise<number>;
  /**
   * Copies the file stored under `key` to `destination` (a new file).
   *
   * @throws {UnavailableError} when it is missing or the store cannot be read.
   */
  getFile(key: string, destination: string): Promise<void>;
  /** Where a stored file is on this host's filesystem, for a store that is a directory. */
  localPath?(key: string): string;
  /**
   * Stores a small text object (the AI explanation beside a core's metadata) under `key`,
   * atomically, replacing what was there.
   *
   * @throws {UnavailableError} when the store cannot be written.
   */
  putText(key: string, text: string): Promise<void>;
}

/**
 * What is stored beside a core's metadata for its AI explanation: `{key}.ai.json`. Removed
 * with the core; never listed as a core's metadata.
 */
export const EXPLANATION_SUFFIX = ".ai.json";

/** Where the files of debug bundles are kept, by build-id: a prefix no instance can have. */
export const BUNDLE_PREFIX = ".bundles/";

/**
 * The metadata record of a core just stored under `key`: what `Store.put` writes beside the
 * core (as `key.json`) and returns.
 */
export function storedObject(
  key: string,
  uri: string,
  stored: { bytes: number; sha256: string },
  options: Pick<PutOptions, "compression" | "metadata">,
): StoredObject {
  return {
    key,
    uri,
    bytes: stored.bytes,
    sha256: stored.sha256,
    compression: options.compression,
    storedAt: new Date().toISOString(),
    metadata: options.metadata ?? {},
  };
}

/** A stored object's metadata record as written: indented JSON and a final newline. */
export function metadataText(object: StoredObject): string {
  return JSON.stringify(object, null, 2) + "\n";
}

/**
 * Rejects keys that could leave the store: absolute, empty parts, `.` or `..`.
 *
 * @example Usage
 * ```ts
 * isSafeKey("prod/20261122T010203Z_q-0_main.core.gz"); // true
 * isSafeKey("../etc/passwd"); // false
 * ```
 */
export function isSafeKey(key: string): boolean {
  return key.length > 0 && !key.startsWith("/") &&
    key.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}
