/**
 * The S3 store as {@linkcode openStore} gives it: the configuration is checked at once, and
 * the S3 client (`s3.ts`, `aws4fetch`, node:http and node:https) is loaded by the first
 * request, so a daemon that has nothing to store holds none of it.
 *
 * @module
 */
import type { Readable } from "node:stream";
import type { PutOptions, PutResult, Store, StoredObject } from "./backend.ts";
import { type S3Config, s3Target } from "./_s3_config.ts";
import { type S3Module, s3Module } from "./_lazy.ts";
import type { S3Store, S3StoreOptions } from "./s3.ts";

/**
 * An {@linkcode S3Store} created on its first request.
 *
 * @throws {ConfigError} from the constructor, as `S3Store`'s.
 *
 * @example Usage
 * ```ts ignore
 * const store = new LazyS3Store(config.storage.s3, "node-a");
 * store.uri("milvus/x.core.zst"); // no request, nothing loaded
 * await store.sweep(); // loads the client, then sweeps
 * ```
 */
export class LazyS3Store implements Store {
  readonly kind = "s3" as const;
  readonly location: string;
  readonly #config: S3Config;
  readonly #writer: string;
  readonly #options: S3StoreOptions;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #module: () => Promise<S3Module>;
  #store?: Promise<S3Store>;

  /**
   * Checks the configuration as `S3Store` does, and keeps it for the store it will create
   * with the module `load` gives (default `s3.ts`; tests give one that fails).
   */
  constructor(
    config: S3Config,
    writer = "agent",
    options: S3StoreOptions = {},
    load?: () => Promise<S3Module>,
  ) {
    const target = s3Target(config, options.env);
    this.#bucket = target.bucket;
    this.#prefix = target.prefix;
    this.location = `s3://${this.#bucket}/${this.#prefix}`;
    this.#config = config;
    this.#writer = writer;
    this.#options = options;
    this.#module = () => s3Module(load);
  }

  /** The URI of a key: `s3://bucket/{prefix}{key}`, as `S3Store`'s. */
  uri(key: string): string {
    return `s3://${this.#bucket}/${this.#prefix}${key}`;
  }

  /** `undefined`: a bucket has no free space to speak of. */
  freeBytes(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }

  /** As {@linkcode S3Store.put}. */
  async put(source: string | Readable, options: PutOptions): Promise<PutResult> {
    return await (await this.#load()).put(source, options);
  }

  /** As {@linkcode S3Store.list}. */
  async *list(onSkip?: (where: string, reason: string) => void): AsyncGenerator<StoredObject> {
    yield* (await this.#load()).list(onSkip);
  }

  /** As {@linkcode S3Store.delete}. */
  async delete(key: string): Promise<void> {
    await (await this.#load()).delete(key);
  }

  /** As {@linkcode S3Store.verify}. */
  async verify(object: StoredObject): Promise<boolean> {
    return await (await this.#load()).verify(object);
  }

  /** As {@linkcode S3Store.sweep}. */
  async sweep(): Promise<number> {
    return await (await this.#load()).sweep();
  }

  /** As {@linkcode S3Store.hasFile}. */
  async hasFile(key: string): Promise<boolean> {
    return await (await this.#load()).hasFile(key);
  }

  /** As {@linkcode S3Store.putFile}. */
  async putFile(key: string, path: string): Promise<number> {
    return await (await this.#load()).putFile(key, path);
  }

  /** As {@linkcode S3Store.getFile}. */
  async getFile(key: string, destination: string): Promise<void> {
    await (await this.#load()).getFile(key, destination);
  }

  /** As {@linkcode S3Store.putText}. */
  async putText(key: string, text: string): Promise<void> {
    await (await this.#load()).putText(key, text);
  }

  #load(): Promise<S3Store> {
    // A failed load fails every request with its error; the daemon goes on.
    return this.#store ??= this.#module().then(({ S3Store }) =>
      new S3Store(this.#config, this.#writer, this.#options)
    );
  }
}
