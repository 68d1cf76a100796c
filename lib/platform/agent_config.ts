/**
 * The `AgentConfig` custom resource (`agent.dev/v1`): the platform settings an operator sets
 * on the cluster instead of in the configuration file, and the status the leading agent
 * writes back (the cluster's UID, the conditions `Available` and `Syncing`, the last sync
 * and snapshot, the resources by kind).
 *
 * @module
 */
import { z } from "zod";
import { parseDuration } from "../config/mod.ts";

/** Where AgentConfigs live in the API. */
export const AGENT_CONFIG_API = "/apis/agent.dev/v1";

/** The platform settings the agent streams with. */
export interface PlatformSettings {
  url: string;
  clusterName: string;
  /** `namespace/name` of the credentials Secret, or "". */
  credentialsSecretRef: string;
  credentialsFile: string;
  syncIntervalMs: number;
  eventsPerSecond: number;
  burstSize: number;
  bufferSize: number;
  graphPath: string;
}

const Spec = z.object({
  platformURL: z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/),
  clusterName: z.string().max(253).optional(),
  credentialsSecretRef: z.object({
    name: z.string().min(1).max(253),
    namespace: z.string().max(63).optional(),
  }),
  syncInterval: z.string().optional(),
  rateLimit: z.object({
    eventsPerSecond: z.number().int().min(1).max(1000).optional(),
    burstSize: z.number().int().min(1).max(1000).optional(),
  }).optional(),
});

/** An AgentConfig's spec, checked. */
export type AgentConfigSpec = z.infer<typeof Spec>;

/**
 * Checks an AgentConfig's spec (the CRD's schema is checked again: an API server without
 * validation, or an older CRD, must not hand the agent a bad value).
 *
 * @returns the spec, or the reason it cannot be used.
 */
export function parseAgentConfigSpec(spec: unknown): AgentConfigSpec | string {
  const parsed = Spec.safeParse(spec);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return `spec.${issue.path.join(".")}: ${issue.message}`;
  }
  const interval = parsed.data.syncInterval;
  if (interval !== undefined && !(Number(parseDuration(interval)) >= 1000)) {
    return `spec.syncInterval: expected a duration of at least 1s, got ${JSON.stringify(interval)}`;
  }
  return parsed.data;
}

/**
 * The settings with those `spec` sets laid over `base` (the configuration file's); the
 * credentials Secret's namespace defaults to the AgentConfig's.
 *
 * @example Usage
 * ```ts ignore
 * const settings = mergeSettings(fromFile, spec, "agent-system");
 * ```
 */
export function mergeSettings(
  base: PlatformSettings,
  spec: AgentConfigSpec,
  namespace: string,
): PlatformSettings {
  const ref = spec.credentialsSecretRef;
  return {
    ...base,
    url: spec.platformURL,
    clusterName: spec.clusterName ?? base.clusterName,
    credentialsSecretRef: `${ref.namespace || namespace}/${ref.name}`,
    credentialsFile: "",
    syncIntervalMs: spec.syncInterval !== undefined
      ? parseDuration(spec.syncInterval)!
      : base.syncIntervalMs,
    eventsPerSecond: spec.rateLimit?.eventsPerSecond ?? base.eventsPerSecond,
    burstSize: spec.rateLimit?.burstSize ?? base.burstSize,
  };
}

/** A status condition. */
export interface Condition {
  type: "Available" | "Syncing";
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** What the leader knows when it writes the status. */
export interface StreamState {
  clusterUID: string;
  leader: string;
  lastSyncAt?: number;
  lastSnapshotAt?: number;
  /** The last failure to reach the platform, cleared by a success. */
  problem?: { reason: string; message: string };
  snapshotPending: boolean;
  resourceCounts: Record<string, number>;
}

/**
 * The status to write: conditions keep their `lastTransitionTime` while their status stays
 * the same.
 */
export function agentConfigStatus(
  state: StreamState,
  generation: number | undefined,
  previous: Condition[] | undefined,
  now: Date,
): Record<string, unknown> {
  const at = now.toISOString();
  const condition = (
    type: Condition["type"],
    status: Condition["status"],
    reason: string,
    message: string,
  ): Condition => {
    const before = previous?.find((c) => c.type === type);
    return {
      type,
      status,
      reason,
      message,
      lastTransitionTime: before?.status === status ? before.lastTransitionTime : at,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
  };
  const available = state.problem
    ? condition("Available", "False", state.problem.reason, state.problem.message)
    : state.lastSnapshotAt !== undefined
    ? condition("Available", "True", "PlatformReachable", "The platform takes the stream")
    : condition("Available", "Unknown", "Starting", "No snapshot sent yet");
  const syncing = state.snapshotPending
    ? condition("Syncing", "False", "SnapshotPending", "A snapshot is due")
    : condition("Syncing", "True", "Streaming", "Changes are streamed as they happen");
  const iso = (ms: number | undefined) => ms === undefined ? undefined : new Date(ms).toISOString();
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    clusterUID: state.clusterUID,
    leader: state.leader,
    ...(state.lastSyncAt !== undefined ? { lastSyncTime: iso(state.lastSyncAt) } : {}),
    ...(state.lastSnapshotAt !== undefined ? { lastSnapshotTime: iso(state.lastSnapshotAt) } : {}),
    resourceCounts: state.resourceCounts,
    conditions: [available, syncing],
  };
}
