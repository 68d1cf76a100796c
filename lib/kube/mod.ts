/**
 * Kubernetes: reaching the API (kubeconfig, in-cluster), a small REST client with watches,
 * and finding Milvus instances.
 *
 * @module
 */
export { type KubeTarget, loadKubeTarget, type LoadKubeTargetOptions } from "./kubeconfig.ts";
export { KubeApiError, KubeClient, type KubeObject, type WatchEvent } from "./client.ts";
export {
  discoverMilvus,
  type DiscoverOptions,
  instanceName,
  lastTermination,
  type MilvusInstance,
  type MilvusPod,
  type Termination,
} from "./milvus.ts";
