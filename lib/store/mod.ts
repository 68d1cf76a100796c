/**
 * Storing cores: streaming compression (gzip, zstd) with bounded memory, the storage
 * backends behind one {@linkcode Store} interface (a local directory, an NFS mount, an
 * S3-compatible bucket) and {@linkcode openStore} to pick one from the configuration, the
 * state database (`node:sqlite`) and the index of every core the agent has seen.
 *
 * @module
 */
export {
  BUNDLE_PREFIX,
  EXPLANATION_SUFFIX,
  isSafeKey,
  type PutOptions,
  type PutResult,
  type Store,
  type StoreCompression,
  type StoredObject,
} from "./backend.ts";
export { LocalStore } from "./local.ts";
export { objectName, safeName, safeObjectName } from "./names.ts";
// The S3 client and the compressors load on first use (`_lazy.ts`): only their types are
// re-exported here.
export type { S3Config, S3StoreOptions } from "./s3.ts";
export { MIN_PART_SIZE } from "./_s3_config.ts";
export { openStore } from "./open.ts";
export type { CompressedStream, StoredFile, StoreOptions } from "./compress.ts";
export { storeCompressed } from "./_lazy.ts";
export { temporaryName, temporaryWriter } from "./_temporary.ts";
export {
  ClaimLostError,
  CORE_STATES,
  CoreIndex,
  type CoreMatch,
  type CorePatch,
  type CoreRecord,
  type CoreState,
  fileIdentity,
  type ScoreLine,
} from "./core_index.ts";
export { openState } from "./state.ts";
export {
  applyRetention,
  type DeletionResult,
  describePolicy,
  planRetention,
  type RetentionPlan,
  type RetentionPolicy,
  retentionPolicy,
  type RetentionTotals,
} from "./retention.ts";
