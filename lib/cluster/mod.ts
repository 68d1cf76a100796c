/**
 * The cluster's metadata: the watched kinds and their reduction to slim resources (Secret and
 * ConfigMap values dropped while decoding), the resource graph with its relationships, and
 * the cluster's identity.
 *
 * @module
 */
export { keyOf, type OwnerRef, parseKey, type Resource, resourceKey } from "./resource.ts";
export {
  collectionPath,
  dropValues,
  findKind,
  reduceObject,
  WATCHED_KINDS,
  type WatchedKind,
} from "./kinds.ts";
export { type Predicate, PREDICATES } from "./_relations.ts";
export {
  type ChangeType,
  type GraphEvent,
  type Relation,
  ResourceGraph,
  type ResourceGraphOptions,
} from "./graph.ts";
export {
  type ClusterWatch,
  loadGraph,
  type LoadGraphOptions,
  watchCluster,
  type WatchClusterOptions,
} from "./watch.ts";
export {
  type ClusterIdentity,
  clusterIdentity,
  detectPlacement,
  type Placement,
} from "./identity.ts";
export { LeaderElector, type LeaderElectorOptions } from "./leader.ts";
