/**
 * The container runtime's CRI API (containerd, CRI-O) over its gRPC socket: pod sandboxes,
 * containers and images, and the caches of pod and container metadata built on it that the
 * node collectors, the process watch and the Kata side label their series with.
 *
 * @module
 */
export {
  CriClient,
  type CriContainer,
  type CriImage,
  criSocketPath,
  type PodSandbox,
} from "./cri.ts";
export {
  type ContainerIdentity,
  ContainerMetadataCache,
  type PodIdentity,
} from "./cri_containers.ts";
export { CriMetadataCache, type PodMetadata } from "./cri_cache.ts";
