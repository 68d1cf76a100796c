/**
 * What core correlation knows of the cluster: this node's pods and the containers that
 * restarted lately. The daemon's Kubernetes feature writes it from its pod watch; the core
 * pipeline only reads it (through {@linkcode ClusterReader}). Without a cluster it stays
 * empty and cores are matched by name only.
 *
 * @module
 */
import type { RestartEvent } from "../kube/mod.ts";
import type { PodInfo } from "./correlate.ts";

/** The read side, as the core pipeline sees it. */
export interface ClusterReader {
  /** This node's pods as last seen. */
  pods(): readonly PodInfo[];
  /** Recent container restarts, oldest first. */
  restarts(): readonly RestartEvent[];
}

/**
 * This node's pods (replaced whole on every change of the watch) and the last
 * `maxRestarts` restarts.
 *
 * @example Usage
 * ```ts
 * const facts = new ClusterFacts();
 * facts.replacePods([]);
 * facts.pods().length; // 0
 * ```
 */
export class ClusterFacts implements ClusterReader {
  #pods: readonly PodInfo[] = [];
  readonly #restarts: RestartEvent[] = [];

  /** Keeps the last `maxRestarts` restarts. */
  constructor(readonly maxRestarts = 1000) {}

  /** This node's pods as last published. */
  pods(): readonly PodInfo[] {
    return this.#pods;
  }

  /** Recent container restarts, oldest first. */
  restarts(): readonly RestartEvent[] {
    return this.#restarts;
  }

  /** Publishes the pods now on this node. */
  replacePods(pods: readonly PodInfo[]): void {
    this.#pods = pods;
  }

  /** Records a restart, forgetting the oldest beyond `maxRestarts`. */
  recordRestart(event: RestartEvent): void {
    this.#restarts.push(event);
    if (this.#restarts.length > this.maxRestarts) {
      this.#restarts.splice(0, this.#restarts.length - this.maxRestarts);
    }
  }
}
