/**
 * Kubernetes: reaching the API (kubeconfig, in-cluster), a small REST client with watches,
 * an informer that survives the ways watches fail, restart events judged panic or not, and
 * finding Milvus instances.
 *
 * @module
 */
export { type KubeTarget, loadKubeTarget, type LoadKubeTargetOptions } from "./kubeconfig.ts";
export {
  KubeApiError,
  KubeClient,
  type KubeObject,
  type Reviver,
  type Selection,
  type WatchEvent,
} from "./client.ts";
export {
  Informer,
  type InformerEventType,
  type InformerOptions,
  type InformerStats,
} from "./informer.ts";
export {
  judgeLogs,
  judgeTermination,
  type RestartEvent,
  restartsBetween,
  slimPod,
  watchRestarts,
  type WatchRestartsOptions,
} from "./restarts.ts";
export {
  discoverMilvus,
  type DiscoverOptions,
  lastTermination,
  type MilvusInstance,
  type MilvusPod,
  type Termination,
} from "./milvus.ts";
export {
  applyUninstall,
  type HelmBinaryOptions,
  planUninstall,
  type UninstallPlan,
  type UninstallResult,
} from "./uninstall.ts";
export { Cleaner, type CleanupOutcome } from "./cleaner.ts";
export { recordEvent, recordPodEvent, updateEventMessage } from "./events.ts";
