/**
 * Opens the store the configuration names: the local directory tree, the same on an NFS
 * mount, or an S3-compatible bucket.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { ConfigError } from "../errors.ts";
import type { Store } from "./backend.ts";
import { LocalStore } from "./local.ts";
import { LazyS3Store } from "./_lazy_s3.ts";
import type { S3StoreOptions } from "./s3.ts";

/**
 * Opens the store of `storage.backend`. `writer` names this agent (its node) in temporary
 * files and upload markers, so that a sweep removes its own leftovers at once.
 *
 * @throws {ConfigError} when the chosen backend's settings are missing or invalid.
 *
 * @example Usage
 * ```ts
 * const store = openStore(config.storage, config.nodeName || "agent");
 * store.location; // "/var/lib/agent/cores"
 * ```
 */
export function openStore(
  storage: Config["storage"],
  writer: string,
  options: S3StoreOptions = {},
): Store {
  switch (storage.backend) {
    case "local":
      return new LocalStore(storage.local.path, "local", writer);
    case "nfs":
      if (storage.nfs.path === "") {
        throw new ConfigError(
          'Missing storage.nfs.path: the "nfs" backend needs the folder where the share is mounted',
        );
      }
      return new LocalStore(storage.nfs.path, "nfs", writer);
    case "s3":
      // The S3 client loads with the first request (see _lazy_s3.ts).
      return new LazyS3Store(storage.s3, writer, options);
  }
}
