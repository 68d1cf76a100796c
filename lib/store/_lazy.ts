/**
 * The parts of the store loaded on first use: the compressors (`compress.ts`, with
 * `lib/compression` and node:zlib's streams) with the first core stored or verified, and the
 * S3 client (`s3.ts`, with `aws4fetch`, node:http and node:https) with the first request to a
 * bucket. An idle daemon holds neither (about 1.2 MB of V8 heap). The specifiers are literal,
 * so `deno compile` takes the modules in.
 *
 * @module
 */
import { errorMessage, UnavailableError } from "../errors.ts";
import type { StoredFile, StoreOptions, StoreSource } from "./compress.ts";

/**
 * The compressors' module, loaded by the first call.
 *
 * @throws {UnavailableError} when it cannot be loaded.
 *
 * @example Usage
 * ```ts ignore
 * const { storeCompressed } = await compressors();
 * ```
 */
export async function compressors(): Promise<typeof import("./compress.ts")> {
  try {
    return await import("./compress.ts");
  } catch (error) {
    throw loadError("the store's compressors", error);
  }
}

/** The S3 store's module. */
export type S3Module = typeof import("./s3.ts");

/**
 * The S3 store's module, loaded by the first call (by `load`: tests give one that fails).
 *
 * @throws {UnavailableError} when it cannot be loaded.
 *
 * @example Usage
 * ```ts ignore
 * const { S3Store } = await s3Module();
 * ```
 */
export async function s3Module(
  load: () => Promise<S3Module> = () => import("./s3.ts"),
): Promise<S3Module> {
  try {
    return await load();
  } catch (error) {
    throw loadError("the S3 client", error);
  }
}

/**
 * Compresses `source` (a path, a node stream, a web stream or a reader) into `destination`, as
 * `compress.ts`'s `storeCompressed`, which the first call loads.
 *
 * @throws {InputError} when the source cannot be read, or its length is not as expected.
 * @throws {UnavailableError} when the destination cannot be written, or the compressors cannot
 * be loaded.
 *
 * @example Usage
 * ```ts ignore
 * await storeCompressed("/var/crash/core.1", "/cores/a/x.core.zst", { compression: "zstd" });
 * ```
 */
export async function storeCompressed(
  source: StoreSource,
  destination: string,
  options: StoreOptions,
): Promise<StoredFile> {
  return await (await compressors()).storeCompressed(source, destination, options);
}

function loadError(what: string, error: unknown): UnavailableError {
  return new UnavailableError(`Cannot load ${what}: ${errorMessage(error)}`, { cause: error });
}
