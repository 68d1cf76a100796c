/**
 * The `storage.s3` configuration resolved into what {@linkcode S3Client} needs: the bucket,
 * the key prefix, the endpoint, the region and the credentials, with `AWS_*` environment
 * variables for what the configuration leaves empty, each checked with a one-line error.
 *
 * @module
 */
import type { Config } from "../config/mod.ts";
import { ConfigError } from "../errors.ts";
import { redactUrls } from "../redact.ts";
import { isSafeKey } from "./backend.ts";
import type { S3ClientOptions } from "./_s3_client.ts";

/** The `storage.s3` configuration section. */
export type S3Config = Config["storage"]["s3"];

/** The smallest part S3 accepts (except the last one). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

/** Where an S3 store sends, as the configuration and environment say. */
export interface S3Target {
  bucket: string;
  /** Where object keys start: empty, or ending in `/`. */
  prefix: string;
  base: URL;
  region: string;
  credentials: S3ClientOptions["credentials"];
  partSize: number;
}

/**
 * Resolves and checks `storage.s3`. Credentials, region and endpoint not set there come from
 * `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or
 * `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`; without an endpoint,
 * AWS (`https://s3.{region}.amazonaws.com`).
 *
 * @throws {ConfigError} when the bucket, prefix, endpoint, part size or credentials are
 * missing or invalid.
 *
 * @example Usage
 * ```ts ignore
 * const target = s3Target(config.storage.s3, (name) => Deno.env.get(name));
 * target.base.href; // "https://s3.us-east-1.amazonaws.com/"
 * ```
 */
export function s3Target(
  config: S3Config,
  env: (name: string) => string | undefined = readEnv,
): S3Target {
  if (config.bucket === "") {
    throw new ConfigError("Missing storage.s3.bucket: the s3 backend needs a bucket");
  }
  if (/[\s/\\]/.test(config.bucket)) {
    throw new ConfigError(`Invalid storage.s3.bucket "${config.bucket}": not a bucket name`);
  }
  const prefix = config.prefix.replace(/^\/+/, "");
  if (prefix !== "" && !isSafeKey(prefix.replace(/\/$/, ""))) {
    throw new ConfigError(
      `Invalid storage.s3.prefix "${config.prefix}": empty, "." or ".." parts are not allowed`,
    );
  }
  const keyPrefix = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
  const region = config.region || env("AWS_REGION") || env("AWS_DEFAULT_REGION") ||
    "us-east-1";
  const endpoint = config.endpoint || env("AWS_ENDPOINT_URL_S3") || env("AWS_ENDPOINT_URL") ||
    `https://s3.${region}.amazonaws.com`;
  let base: URL | undefined;
  try {
    base = new URL(endpoint);
  } catch {
    // Reported below.
  }
  const shown = redactUrls(endpoint);
  if (base !== undefined && (base.username !== "" || base.password !== "")) {
    throw new ConfigError(
      `Invalid storage.s3.endpoint "${shown}": credentials do not go in the URL ` +
        "(set storage.s3.accessKeyId and storage.s3.secretAccessKey)",
    );
  }
  if (
    base === undefined || !["http:", "https:"].includes(base.protocol) || base.search !== ""
  ) {
    throw new ConfigError(
      `Invalid storage.s3.endpoint "${shown}": expected a URL like "https://s3.example.com:9000"`,
    );
  }
  let credentials: S3ClientOptions["credentials"];
  if (config.accessKeyId !== "" || config.secretAccessKey !== "") {
    if (config.accessKeyId === "" || config.secretAccessKey === "") {
      throw new ConfigError(
        "Incomplete S3 credentials: set both storage.s3.accessKeyId and storage.s3.secretAccessKey",
      );
    }
    credentials = {
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
    };
  } else {
    const accessKeyId = env("AWS_ACCESS_KEY_ID");
    const secretAccessKey = env("AWS_SECRET_ACCESS_KEY");
    if (!accessKeyId || !secretAccessKey) {
      throw new ConfigError(
        "Missing S3 credentials: set storage.s3.accessKeyId and storage.s3.secretAccessKey, " +
          "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      );
    }
    const sessionToken = env("AWS_SESSION_TOKEN");
    credentials = {
      accessKeyId,
      secretAccessKey,
      ...(sessionToken ? { sessionToken } : {}),
    };
  }
  if (
    !Number.isInteger(config.partSize) || config.partSize < MIN_PART_SIZE ||
    config.partSize > MAX_PART_SIZE
  ) {
    throw new ConfigError(
      `Invalid storage.s3.partSize ${config.partSize}: S3 parts are 5MiB to 5GiB`,
    );
  }
  return {
    bucket: config.bucket,
    prefix: keyPrefix,
    base,
    region,
    credentials,
    partSize: config.partSize,
  };
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
